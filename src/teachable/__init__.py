"""teachable: find the failure states of an LM agent that are worth teaching."""

__version__ = "0.1.0"
