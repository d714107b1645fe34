import Testing
import DQSSTensor
import DQSSData

@Suite("SyntheticDataset")
struct SyntheticDatasetTests {
    @Test("same seed gives identical images; another seed differs; image i does not depend on the count")
    func determinism() {
        let a = SyntheticDataset(count: 24, seed: 5), b = SyntheticDataset(count: 24, seed: 5)
        #expect(a.images.array == b.images.array && a.labels == b.labels)
        #expect(SyntheticDataset(count: 24, seed: 6).images.array != a.images.array)
        let small = SyntheticDataset(count: 7, seed: 5)
        #expect(small.images.array == Array(a.images.array[0..<small.images.count]))
    }

    @Test("shapes, balanced labels and centred values")
    func contents() {
        let d = SyntheticDataset(count: 60, size: 12, seed: 1)
        #expect(d.images.shape == [60, 3, 12, 12] && d.imageShape == [3, 12, 12])
        #expect(d.classCount == SyntheticDataset.classNames.count)
        for c in 0..<d.classCount { #expect(d.labels.filter { $0 == c }.count == 60 / d.classCount) }
        let mean = d.images.sum() / Double(d.images.count)
        #expect(abs(mean) < 0.15, "mean \(mean)")
        #expect(d.images.maxAbs() < 2.5 && d.images.isFinite)
    }

    @Test("noise-free stripes follow their orientation")
    func stripes() {
        let d = SyntheticDataset(count: 2, size: 8, seed: 3, noise: 0)
        // Image 0 is horizontal stripes: constant along each row; image 1 vertical: constant down columns.
        for y in 0..<8 { for x in 1..<8 {
            #expect(d.images[0, 0, y, x] == d.images[0, 0, y, 0])
            #expect(d.images[1, 0, x, y] == d.images[1, 0, 0, y])
        } }
        #expect(d.images[0, 0, 0, 0] != d.images[0, 0, 1, 0] || d.images[0, 0, 1, 0] != d.images[0, 0, 2, 0])
    }

    @Test("fillBatch copies the requested images in order and returns their labels")
    func batches() {
        let d = SyntheticDataset(count: 10, seed: 2)
        let batch = Tensor(shape: [0])
        let labels = d.fillBatch([7, 2][...], images: batch)
        #expect(labels == [d.labels[7], d.labels[2]] && batch.shape == [2, 3, 16, 16])
        let per = 3 * 16 * 16
        #expect(Array(batch.array[0..<per]) == Array(d.images.array[7 * per..<8 * per]))
        #expect(Array(batch.array[per...]) == Array(d.images.array[2 * per..<3 * per]))
    }
}
