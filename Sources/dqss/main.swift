import DQSSCLI
DQSSCommand.main()
