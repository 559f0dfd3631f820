"""JSON Schema export of the message families (for docs and non-Python clients)."""

from __future__ import annotations

import json
from typing import Any

from . import messages


def message_schemas() -> dict[str, dict[str, Any]]:
    return {
        "HistoryMessage": messages.HISTORY_MESSAGE.json_schema(),
        "MatchingMessage": messages.MATCHING_MESSAGE.json_schema(),
        "TaskMessage": messages.TASK_MESSAGE.json_schema(),
        "TimerMessage": messages.TIMER_MESSAGE.json_schema(),
        "NotifyMessage": messages.NOTIFY_MESSAGE.json_schema(),
        "Reply": messages.REPLY.json_schema(),
    }


def main() -> None:
    print(json.dumps(message_schemas(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
