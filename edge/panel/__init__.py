"""The panel in the real world: powered by store hours, overridden on the spot, and
watched for a cable that falls out.

- `schedule.py` (pure): is the panel wanted on now? Weekly hours, dated exceptions, the
  store's time zone, an override with an end.
- `power.py`: the adapters that really put a panel in standby (HDMI-CEC, DPMS through
  the DRM driver's framebuffer) and the auto-detection between them.
- `connector.py`: the DRM connectors' hot-plug status in sysfs.
- `override.py`: the override file shared by `omo-edge display` and the `display` command.
- `service.py`: the I/O-side service tying them together (events, state, health).
"""
