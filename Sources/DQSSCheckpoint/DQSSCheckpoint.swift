// DQSSCheckpoint: versioned HDF5 checkpoints and exact resume, over the DQSSHDF5 wrapper.
//
// Re-exported because the checkpoint API hands out the wrapper's types (HDF5Array in NamedArray,
// HDF5Group in the layout, HDF5Error in failures): users of checkpoints need no second import.
@_exported import DQSSHDF5
