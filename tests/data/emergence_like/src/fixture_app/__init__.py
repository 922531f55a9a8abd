"""A fixture shaped like emergence-app's backend (see ../../README.md)."""
