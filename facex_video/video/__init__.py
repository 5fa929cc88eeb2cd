"""Orchestration of the stages over a whole input (image or video); nothing below this package imports it."""
