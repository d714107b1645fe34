print("dqss-bench: not yet")
