"""A local Bitrix24 REST portal: the test bed and the demo portal."""
