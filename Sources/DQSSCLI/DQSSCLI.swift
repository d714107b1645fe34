// DQSSCLI: the dqss commands.
