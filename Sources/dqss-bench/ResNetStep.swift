// The ResNet-20 training step of dqss-bench (forward, softmax cross-entropy, backward, SGD update).
// Returns nil until the model zoo provides ResNet-20.

func resnet20StepMilliseconds(batch: Int, repeats: Int, log: (String) -> Void) -> Double? {
    nil
}
