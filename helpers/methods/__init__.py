"""The algorithms being taught: training loops, losses and schedules."""
