// OpenBLASCore: which kernel family OpenBLAS runs, for benchmark reports.
//
// OpenBLAS (DYNAMIC_ARCH) picks its kernels when the library loads, from the CPU or from the
// environment variable OPENBLAS_CORETYPE. Debian 12's 0.3.21 predates AMD Zen 4/5 and would use its
// Haswell (AVX2) kernels there; OPENBLAS_CORETYPE=SKYLAKEX selects its AVX-512 kernels, which on the
// 2-vCPU Zen 5 test machine cut the ResNet-20 step's CPU time by ~18 % (dqss-bench step: 392 vs ~480 ms).
// dqss leaves the choice to the environment (these machines pin OPENBLAS_CORETYPE=Haswell).

import _CBLAS

public enum OpenBLASCore {
    /// The kernel family OpenBLAS selected at load time ("Haswell", "SkylakeX", "Zen", ...).
    public static var name: String { String(cString: openblas_get_corename()) }
}
