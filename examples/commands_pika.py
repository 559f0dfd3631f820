"""Publish one command to Tidal's command exchange with pika and print the reply.

    uv run python examples/commands_pika.py amqp://guest:guest@127.0.0.1:5672 start \
        '{"workflow_id": "hello-3", "workflow_type": "HelloWorkflow", "task_queue": "hello",
          "args": ["pika"]}' hello-3-start

Arguments: broker URL, routing key (start, signal, signal-with-start, cancel, terminate), the JSON
body, and optionally a message id (the idempotency key). Only pika is used: any AMQP client works.
"""

import json
import sys
import uuid

import pika


def main() -> None:
    url, routing_key, body = sys.argv[1:4]
    message_id = sys.argv[4] if len(sys.argv) > 4 else None
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    # A private, server-named queue for the answer.
    reply_queue = ch.queue_declare("", exclusive=True).method.queue
    correlation_id = str(uuid.uuid4())
    ch.basic_publish(
        exchange="tidal.commands",
        routing_key=routing_key,
        body=body.encode(),
        properties=pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,  # persistent
            message_id=message_id,
            reply_to=reply_queue,
            correlation_id=correlation_id,
        ),
    )
    for method, props, reply in ch.consume(reply_queue, auto_ack=True, inactivity_timeout=60):
        if method is None:
            sys.exit("no reply within 60 s")
        if props.correlation_id == correlation_id:
            print(json.dumps(json.loads(reply)))
            break
    conn.close()


if __name__ == "__main__":
    main()
