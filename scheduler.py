"""Scheduler: reruns crawls on a schedule (see issue "Scheduler and operations"; `munijobs schedule`)."""


def main() -> None:
    raise SystemExit("munijobs-scheduler: not built yet")
