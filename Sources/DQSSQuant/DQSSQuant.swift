// DQSSQuant: the uniform quantizer and its calibrators (ALGORITHMS.md §1–3).
