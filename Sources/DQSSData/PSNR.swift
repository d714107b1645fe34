// PSNR: peak signal-to-noise ratio of two equally sized planes with peak value `peak` (255 for 8-bit):
//   PSNR = 10 log10(peak² / MSE),  MSE = mean (a − b)²       (+∞ for identical planes)

import Foundation

public enum PSNR {
    public static func compute(_ a: [Double], _ b: [Double], peak: Double = 255) -> Double {
        precondition(a.count == b.count && !a.isEmpty, "PSNR of \(a.count) vs \(b.count) values")
        var s = 0.0
        for i in 0..<a.count { let d = a[i] - b[i]; s += d * d }
        let mse = s / Double(a.count)
        return mse == 0 ? .infinity : 10 * log10(peak * peak / mse)
    }
}
