// GEMM: C = alpha * op(A) * op(B) + beta * C, row-major, through OpenBLAS's cblas_sgemm.
// `gemmNaive` is the reference that tests compare against (Double accumulation).

import _CBLAS

public enum Transpose: Sendable { case none, transposed }

/// Row-major sgemm on OpenBLAS's threads. op(A) is m×k, op(B) is k×n, C is m×n; lda/ldb/ldc are row
/// strides of the stored matrices (before op). Safe to call from several threads at once (BLASGate).
public func gemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    BLASGate.shared.run(.threaded) {
        serialGEMM(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}

/// The same sgemm without the gate: only inside a BLASGate section (runChunks' bodies), where the
/// thread count OpenBLAS runs with is already set.
func serialGEMM(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                b: UnsafePointer<Float>, ldb: Int,
                beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor,
                transA == .none ? CblasNoTrans : CblasTrans,
                transB == .none ? CblasNoTrans : CblasTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// C = alpha · B · A with A symmetric k×k of which only the upper triangle is read (row-major), B and C
/// m×k: cblas_ssymm, right side, on OpenBLAS's threads.
public func symmetricRightMultiply(m: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                   b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || k == 0 { return }
    BLASGate.shared.run(.threaded) {
        cblas_ssymm(CblasRowMajor, CblasRight, CblasUpper, Int32(m), Int32(k), alpha, a, Int32(lda),
                    b, Int32(ldb), 0, c, Int32(ldc))
    }
}

/// Reference GEMM with the same contract as `gemm`, accumulating each dot product in Double.
public func gemmNaive(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                      alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA == .none ? a[i * lda + p] : a[p * lda + i]
                let bv = transB == .none ? b[p * ldb + j] : b[j * ldb + p]
                s += Double(av) * Double(bv)
            }
            let old = beta == 0 ? 0 : beta * c[i * ldc + j]
            c[i * ldc + j] = alpha * Float(s) + old
        }
    }
}
