"""One module per operation, each with one entry `handle(ctx, msg) -> Outcome` (a schedule's
returns a `ScheduleOutcome`), pure: what it needs is preloaded into `ctx` (operation.py) as its
entry in the operation table (dispatch.py) asks. The other modules here are their helpers."""
