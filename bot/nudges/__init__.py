"""Nudges: timers and daily check-ins delivered to users who did not just write."""
