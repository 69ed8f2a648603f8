"""Personalisation in the daemon: the Personalizer, its decide requests, and the answers.

Online, decide requests go to central through the Decider (MQTT 5
request/response with a deadline) and `P/decision` routes the answers back
to it. Requests run as supervised jobs; the figures reach `device.health`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from edge.config import Config
from edge.content import legible
from edge.content.player import Personal
from edge.content.slides import Slide
from edge.errors import PayloadRejected
from edge.link.decide import Decider
from edge.link.router import Route
from edge.link.schemas import Decision, parse
from edge.link.session import Incoming, MqttLink
from edge.link.topics import Topics
from edge.personalize.personalizer import Personalizer
from edge.runtime.jobs import Jobs
from edge.runtime.service import Figures, Service
from edge.runtime.supervisor import Task


class PersonalizeService(Service):
    name = "personalize"

    def __init__(
        self,
        config: Config,
        *,
        show: Callable[[Personal], None],
        offer: Callable[[str], Slide | None],
    ) -> None:
        self._config = config
        self.jobs = Jobs("decide")
        self.decider: Decider | None = None
        p = config.personalize
        self.personalizer = Personalizer(
            None,
            show=show,
            offer=offer,
            cooldown_s=p.cooldown_s,
            max_in_flight=p.max_in_flight,
            submit=self.jobs.submit,
        )

    def tasks(self) -> list[Task]:
        return [self.jobs.task()]

    def online(self, link: MqttLink) -> None:
        self.decider = Decider(link, self._config.mqtt.decide_timeout_ms / 1000)
        self.personalizer.use(self.decider)

    def offline(self) -> None:
        self.decider = None
        self.personalizer.use(None)

    def routes(self, topics: Topics) -> list[Route]:
        return [Route("decision", self._decision, topic=topics.decision)]

    async def _decision(self, item: Incoming) -> bool:
        if self.decider is not None:
            decision = parse(item.topic, item.payload, Decision)
            found = [] if decision.slide is None else legible.problems(decision.slide)
            if found:  # refused like any payload that breaks the contract: logged, counted
                reason, _field, detail = found[0]
                raise PayloadRejected(item.topic, f"{reason}: {detail}")
            self.decider.answer(decision, item.correlation)
        return True

    def health(self) -> Figures:
        figures: dict[str, int | float | str] = {
            f"personalize_{k}": v for k, v in asdict(self.personalizer.stats).items()
        }
        figures["personalize_in_flight"] = self.personalizer.in_flight
        figures["decide_failed"] = self.jobs.failed
        if self.decider is not None:
            figures["decide_timeouts"] = self.decider.timeouts
            figures["decide_late"] = self.decider.late
        return figures
