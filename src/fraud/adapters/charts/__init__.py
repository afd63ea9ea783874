"""Charts drawn with matplotlib (headless), for reports people would rather see than read."""
