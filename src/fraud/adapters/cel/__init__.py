"""Rules' expressions in the Common Expression Language (CEL)."""
