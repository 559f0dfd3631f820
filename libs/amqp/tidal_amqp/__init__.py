"""Tidal's lean AMQP 0-9-1 path, under aio-pika and aiormq: what the server's bus and the SDK's
worker send and receive per message, without aio-pika's message objects or aiormq's per-publish
machinery. aio-pika keeps the connection, the channels, the declarations and their recovery.

- `frames`: the hot frames (basic.publish, content header and body, basic.ack / basic.nack)
  marshalled with `struct`, byte for byte pamqp's.
- `channel_writer`: the server bus's per-channel coalescing writer and confirmed `Publisher`
  (returns the confirm future).
- `outbox`: the worker's per-connection `FrameOutbox`, `ConfirmedPublisher` (awaits the confirm)
  and `RawDelivery`.
- `consume`: aio-pika robust classes whose queues consume with a raw-delivery callback.
- `reader`: the connection's frame reader (one socket read parsed whole), swapped in for
  aiormq's by `install()`; `properties`: content headers decoded without pamqp's dispatch.
- `deliveries`: a consumer channel's deliveries assembled as the connection's reader hands
  their frames over (`route_deliveries`), without the channel's queue hops.

No dependency on the rest of Tidal: `tidal` (SDK) and `tidal_server` both depend on this.
Exceptions are aiormq's (`aiormq.exceptions`), as the callers already handle them.
"""

__all__: list[str] = []
