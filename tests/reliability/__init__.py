"""The reliability suite: contention, faults and recovery on real databases."""
