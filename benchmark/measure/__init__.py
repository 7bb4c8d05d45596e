"""Measurement: latency (timed loop and statistics), memory (host and GPU peaks), quality
(F1 and fidelity to the FP32 reference), and the environment the numbers came from."""
