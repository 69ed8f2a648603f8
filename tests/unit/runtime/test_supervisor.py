"""The supervisor keeps tasks alive; the router keeps the inbox alive. Whatever fails is
logged with its traceback and counted, never silently gone."""

from __future__ import annotations

import asyncio
import logging

import pytest

from edge.errors import PayloadRejected
from edge.link.router import Route, TopicRouter
from edge.link.session import Incoming
from edge.runtime.jobs import Jobs
from edge.runtime.supervisor import Supervisor, Task, TaskFailed


def run(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, 10))  # type: ignore[arg-type]


def test_a_failing_task_is_logged_counted_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        runs: list[int] = []

        async def flaky() -> None:
            runs.append(1)
            if len(runs) < 3:
                raise RuntimeError(f"boom {len(runs)}")
            await asyncio.Event().wait()

        async with Supervisor(backoff_s=0.01) as tasks:
            tasks.start(Task("flaky", flaky))
            while len(runs) < 3:
                await asyncio.sleep(0.01)
            assert tasks.restarts["flaky"] == 2
            assert tasks.running() == ["flaky"]
        assert "task flaky failed; restarting" in caplog.text
        assert "RuntimeError: boom 1" in caplog.text  # the traceback is in the log

    run(body())


def test_a_task_that_keeps_failing_ends_the_supervisor_with_task_failed() -> None:
    async def body() -> None:
        async def broken() -> None:
            raise OSError("no radio")

        async def innocent() -> None:
            await asyncio.Event().wait()

        with pytest.raises(TaskFailed, match="'broken' failed 3 times"):
            async with Supervisor(backoff_s=0.001, give_up_after=3) as tasks:
                tasks.start(Task("broken", broken), Task("innocent", innocent))
                await asyncio.Event().wait()  # cancelled when the group fails

    run(body())


def test_a_task_that_returns_is_done_and_groups_stop_alone() -> None:
    async def body() -> None:
        done: list[str] = []

        async def once() -> None:
            done.append("once")

        async def forever() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                done.append("stopped")

        async with Supervisor() as tasks:
            tasks.start(Task("once", once))
            tasks.start(Task("a", forever), group="online")
            tasks.start(Task("b", forever))
            await asyncio.sleep(0.05)
            assert sorted(tasks.running()) == ["a", "b"]
            await tasks.stop("online")
            assert tasks.running() == ["b"]
            assert done == ["once", "stopped"]
        assert done == ["once", "stopped", "stopped"]

    run(body())


def test_failing_jobs_are_counted_and_the_others_go_on(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        jobs = Jobs("commands")
        finished: list[int] = []

        async def good(n: int) -> None:
            await asyncio.sleep(0.01)
            finished.append(n)

        async def bad() -> None:
            raise KeyError("oops")

        async with Supervisor() as tasks:
            jobs.submit(lambda: good(1))  # before the task runs: waits for it
            tasks.start(jobs.task())
            jobs.submit(bad)
            jobs.submit(lambda: good(2))
            await jobs.idle()
        assert sorted(finished) == [1, 2]
        assert jobs.failed == 1
        assert "commands job failed" in caplog.text

    run(body())


def item(topic: str, payload: bytes = b"{}") -> Incoming:
    return Incoming(topic, payload, 1, 1, None)


def test_the_router_survives_bad_payloads_and_broken_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        handled: list[str] = []

        async def bad_input(msg: Incoming) -> bool:
            raise PayloadRejected(msg.topic, "not JSON")

        async def bug(_msg: Incoming) -> bool:
            raise ZeroDivisionError("a bug")

        async def not_yet(_msg: Incoming) -> bool:
            return False

        async def fine(msg: Incoming) -> bool:
            handled.append(msg.topic)
            return True

        router = TopicRouter()
        router.add(
            Route("decision", bad_input, topic="P/decision"),
            Route("cmd", bug, topic="P/cmd"),
            Route("checkin", not_yet, topic="P/checkin"),
            Route("asset", fine, prefix="P/asset/", exclude=frozenset({"P/asset/get"})),
        )
        with caplog.at_level(logging.WARNING):
            assert await router.dispatch(item("P/decision")) is True  # acked: bad for good
            assert await router.dispatch(item("P/cmd")) is True  # acked and dropped
            assert await router.dispatch(item("P/checkin")) is False  # redelivered later
            assert await router.dispatch(item("P/asset/abc")) is True
            assert await router.dispatch(item("P/asset/get")) is True  # nobody's: ignored
        assert handled == ["P/asset/abc"]
        assert router.rejected == {"decision": 1}
        assert router.handler_errors == {"cmd": 1}
        assert "ZeroDivisionError: a bug" in caplog.text
        assert router.health() == {
            "rejected_payloads": 1,
            "handler_errors_cmd": 1,
            "handler_errors": 1,
        }
        assert await TopicRouter(ack_unrouted=False).dispatch(item("P/checkin")) is False

    run(body())
