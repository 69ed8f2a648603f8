"""What exists only while the device talks to central: its two MQTT connections, content,
commands and updates; built when the device is provisioned (at start or by pairing) and
taken down when it is unpaired."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.clock import clock_synced
from edge.commands import CommandRunner
from edge.config import Config
from edge.content.service import ContentService, asset_requester
from edge.link.renewal import RenewalService, recover
from edge.link.router import Route, TopicRouter, serve_inbox
from edge.link.session import ASSETS, BrokerSettings, MqttLink
from edge.link.topics import Topics
from edge.outbox.service import OutboxService
from edge.provision.announce import find_broker
from edge.quiet import QuietLog
from edge.runtime.jobs import Jobs
from edge.runtime.supervisor import Task
from edge.update.stage import Stager

if TYPE_CHECKING:
    from edge.app.io import IoSide


@dataclass
class Online:
    link: MqttLink
    assets: MqttLink  # the asset connection (edge/link/session.py says why)
    content: ContentService
    commands: CommandRunner
    command_jobs: Jobs
    updates: Stager
    routes: list[Route]
    renewal: RenewalService | None = None  # with a client certificate (mutual TLS)

    def start(self) -> None:
        """Begin connecting (both return at once; the broker may be down)."""
        self.link.start()
        self.assets.start()

    def tasks(self, router: TopicRouter, outbox: OutboxService) -> list[Task]:
        link, assets = self.link, self.assets
        return [
            Task("inbox", lambda: serve_inbox(link, router)),
            Task("inbox-assets", lambda: serve_inbox(assets, router)),
            outbox.sync_task(),
            self.command_jobs.task(),
            *self.content.tasks(),
            *(self.renewal.tasks() if self.renewal is not None else []),
        ]

    def figures(self) -> dict[str, int]:
        """Health figures of the link and the commands (edge/app/health.py)."""
        figures = {
            "broker_connected": int(self.link.connected.is_set()),
            "incoming_dropped": self.link.dropped_incoming,
            "commands_refused": self.commands.refused,
            "commands_malformed": self.commands.malformed,
        }
        if self.renewal is not None:
            figures.update(
                cert_renewed=self.renewal.renewed, cert_renewal_refused=self.renewal.refused
            )
        return figures

    async def stop(self) -> None:
        """Say offline (retained) and disconnect both connections."""
        await asyncio.gather(asyncio.to_thread(self.link.stop), asyncio.to_thread(self.assets.stop))


async def auto_broker(cfg: Config, quiet: QuietLog) -> BrokerSettings:
    """`mqtt.host = "auto"`: the store broker from mDNS, verified by its certificate
    against the host name it announced (the config allows "auto" only with TLS)."""
    while True:
        try:
            server, _address, port = await find_broker(cfg.provision.interfaces, timeout_s=10.0)
            break
        except TimeoutError:
            quiet.problem("auto-broker", "no _mqtt._tcp broker announced yet; looking")
    quiet.resolved("auto-broker", "found broker %s:%d by mDNS", server, port)
    return dataclasses.replace(BrokerSettings.from_config(cfg.mqtt), host=server, port=port)


async def connect(io: IoSide, cfg: Config, broker: BrokerSettings) -> Online:
    """Build the online parts on the device's services; the saved content plays at once."""
    loop = asyncio.get_running_loop()
    topics = Topics(cfg.mqtt.prefix, cfg.device.store_id, cfg.device.device_id)
    await asyncio.to_thread(recover, cfg.mqtt)  # a renewal a crash cut short, finished
    link = MqttLink(topics, broker, loop, clock_synced, state=io.state_fields)
    assets = MqttLink(topics, broker, loop, clock_synced, channel=ASSETS)
    u = cfg.update
    updates = Stager(
        cfg.state_dir / "update",
        u.release_public_key,
        request_asset=asset_requester(assets),
        allow_file_urls=u.allow_file_urls,
        max_bytes=u.max_bytes,
    )
    content = ContentService(
        cfg,
        assets,
        set_playlist=lambda slides, resolve, fallback: io.bridge.set_playlist(
            slides, resolve, fallback=fallback
        ),
        record=io.outbox.record,
        loop=loop,
        take_asset=updates.receive_asset,
        on_state=io.state_changed,
        on_decision_asset=io.bridge.repaint,
    )
    command_jobs = Jobs("commands")
    commands = CommandRunner(
        io.outbox.outbox,
        link,
        clock_synced=clock_synced,
        screenshot=io.bridge.screenshot,
        reload=io.reload,
        purge=io.purge_visitor,
        reprovision=io.reprovision,
        logs=io.log_ring.snapshot,
        display=io.panel.set_override,
        update=updates.stage,
        submit=command_jobs.submit,
    )
    io.outbox.online(link)
    io.personalize.online(link)
    await content.start()
    routes = [
        *io.outbox.routes(topics),
        *io.personalize.routes(topics),
        *io.checkin.routes(topics),
        *content.routes(topics),
        Route("cmd", commands.handle, topic=topics.cmd),
        *io.remote_config.routes(topics),
    ]
    renewal = None
    if cfg.mqtt.tls_cert and cfg.mqtt.tls_key:
        renewal = RenewalService(cfg.mqtt, topics, link, record=io.outbox.record)
        routes += renewal.routes(topics)
    return Online(link, assets, content, commands, command_jobs, updates, routes, renewal)
