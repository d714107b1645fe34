// DQSSData: readers and writers for weights (safetensors), datasets (CIFAR-10, PNG) and generated data.
