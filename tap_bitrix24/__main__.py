"""Run the tap with ``python -m tap_bitrix24``."""

from tap_bitrix24.tap import TapBitrix24

TapBitrix24.cli()
