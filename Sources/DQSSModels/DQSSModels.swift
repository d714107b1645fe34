// DQSSModels: the model zoo, with PyTorch parameter names.
