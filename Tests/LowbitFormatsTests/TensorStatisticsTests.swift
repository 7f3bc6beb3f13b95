import LowbitFormats
import LowbitTestSupport
import Testing

/// The streaming statistics behind `inspect --stats`: exactness against a direct computation,
/// non-finite values, and results independent of chunking and threads.
@Suite("TensorStatistics")
struct TensorStatisticsTests {
    /// Deterministic pseudo-random floats (xorshift), heavy-tailed, offset by `mean`.
    static func values(_ n: Int, seed: UInt64, mean: Float = 0) -> [Float] {
        var s = seed | 1
        return (0..<n).map { _ in
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            let u = Float(s >> 40) / Float(1 << 24) - 0.5
            return mean + u * u * u * 8
        }
    }

    func expectClose(_ s: TensorStatistics, _ values: [Float], sourceLocation: SourceLocation = #_sourceLocation) {
        let r = TensorStatistics.reference(values)
        #expect(s.count == r.count, sourceLocation: sourceLocation)
        #expect(s.nanCount == r.nan && s.infCount == r.inf, sourceLocation: sourceLocation)
        guard r.count > 0 else {
            #expect(s.min.isNaN && s.max.isNaN && s.mean.isNaN && s.std.isNaN, sourceLocation: sourceLocation)
            return
        }
        #expect(s.min == r.min && s.max == r.max, sourceLocation: sourceLocation)
        #expect(s.absmax == max(abs(r.min), abs(r.max)), sourceLocation: sourceLocation)
        let scale = max(abs(r.min), abs(r.max))
        #expect(abs(s.mean - r.mean) <= 1e-7 * scale, "\(s.mean) vs \(r.mean)", sourceLocation: sourceLocation)
        #expect(abs(s.std - r.std) <= 1e-6 * max(r.std, 1e-30) + 1e-9 * scale, "\(s.std) vs \(r.std)",
                sourceLocation: sourceLocation)
    }

    @Test(arguments: [0, 1, 2, 255, 256, 257, 4096, 100_003])
    func matchesDirectComputation(_ n: Int) {
        let v = TensorStatisticsTests.values(n, seed: UInt64(n) + 7)
        expectClose(TensorStatistics(v), v)
    }

    @Test func largeOffsetKeepsPrecision() {
        let v = TensorStatisticsTests.values(50_000, seed: 3, mean: 1000)
        expectClose(TensorStatistics(v), v)
    }

    @Test func nonFiniteValuesAreCountedAndExcluded() {
        var v = TensorStatisticsTests.values(10_000, seed: 11)
        v[0] = .nan
        v[17] = .infinity
        v[9_999] = -.infinity
        v[500] = .nan
        let s = TensorStatistics(v)
        #expect(s.nanCount == 2 && s.infCount == 2 && s.count == 9_996)
        expectClose(s, v)
        let allBad = TensorStatistics([Float.nan, .infinity])
        #expect(allBad.count == 0 && allBad.nanCount == 1 && allBad.infCount == 1 && allBad.mean.isNaN)
    }

    @Test func extremeFiniteValuesDoNotOverflow() {
        let v: [Float] = [Float.greatestFiniteMagnitude, -Float.greatestFiniteMagnitude, 1, 0]
            + Array(repeating: 2.5, count: 300)
        expectClose(TensorStatistics(v), v)
    }

    @Test func mergingChunksEqualsTheWhole() {
        let v = TensorStatisticsTests.values(30_000, seed: 5, mean: -2)
        var merged = TensorStatistics.empty
        var start = 0
        for size in [1, 999, 4096, 7, 20_000, 10_000] where start < v.count {
            let end = min(v.count, start + size)
            merged = merged.merged(with: TensorStatistics(Array(v[start..<end])))
            start = end
        }
        expectClose(merged, v)
    }

    @Test func computeIsIndependentOfThreadsAndChunks() throws {
        let arrays = [("a", TensorStatisticsTests.values(100_000, seed: 1)),
                      ("b", TensorStatisticsTests.values(3, seed: 2)),
                      ("c", [Float]()),
                      ("d", TensorStatisticsTests.values(70_001, seed: 4, mean: 3))]
        let source = MemorySource(bf16: arrays)
        let one = try TensorStatistics.compute(source.tensors, in: source, threads: 1, chunkElements: 1 << 20)
        let many = try TensorStatistics.compute(source.tensors, in: source, threads: 4, chunkElements: 4096)
        let again = try TensorStatistics.compute(source.tensors, in: source, threads: 3, chunkElements: 4096)
        #expect(many == again)  // deterministic for a given chunk size, whatever the threads
        for (i, (_, values)) in arrays.enumerated() {
            let encoded = FloatFormat.bf16.encode(values)
            let decoded = encoded.withUnsafeBytes { FloatFormat.bf16.decode($0) }
            let a = try #require(one[i]), b = try #require(many[i])
            expectClose(a, decoded)
            expectClose(b, decoded)
        }
    }

    @Test func undecodableTypesGetNoStatistics() throws {
        let source = MemorySource(bf16: [("a", [1, 2, 3])])
        let stats = try TensorStatistics.compute(source.tensors, in: source) { _ in nil }
        #expect(stats == [nil])
    }

    @Test func aByteCountThatDoesNotMatchTheShapeIsAnError() throws {
        let source = MemorySource(bf16: [("a", [1, 2, 3, 4])])
        var bad = source.tensors[0]
        bad.shape = [3]
        #expect(throws: FormatError.self) { try TensorStatistics.compute([bad], in: source) }
    }
}
