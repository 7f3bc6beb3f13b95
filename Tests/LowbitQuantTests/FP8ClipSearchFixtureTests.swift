import Foundation
import LowbitFormats
import LowbitTestSupport
@testable import LowbitQuant
import Testing

/// FP8's clip search (``FP8ClipSearch``) against the float64 numpy reference in
/// fixtures/weighted/make_weighted_fixtures.py: the same scales and values, per row and per block,
/// weighted by an importance vector or not.
@Suite struct FP8ClipSearchFixtureTests {
    struct Manifest: Decodable {
        struct Case: Decodable { let name: String, matrix: String, block_rows: Int, block_columns: Int, weighted: Bool }
        let matrices: [ImportanceSearchFixtureTests.Manifest.Matrix]
        let fp8_cases: [Case]
    }

    static let manifest: Manifest = {
        let data = try! Data(contentsOf: Fixtures.url("weighted/manifest.json"))
        return try! JSONDecoder().decode(Manifest.self, from: data)
    }()

    @Test func casesCoverRowsBlocksAndBothWeightings() {
        #expect(Set(Self.manifest.fp8_cases.map(\.weighted)) == [true, false])
        #expect(Set(Self.manifest.fp8_cases.map { $0.block_rows == 0 }) == [true, false])
    }

    @Test(arguments: manifest.fp8_cases.map(\.name))
    func matchesTheNumpyReference(_ name: String) throws {
        let c = Self.manifest.fp8_cases.first { $0.name == name }!
        let m = Self.manifest.matrices.first { $0.name == c.matrix }!
        let weights = try ImportanceSearchFixtureTests.load("\(c.matrix).weight.f32", as: Float.self)
        let importance = try ImportanceSearchFixtureTests.load("\(c.matrix).importance.f32", as: Float.self)
        let expectedValues = try ImportanceSearchFixtureTests.load("\(name).values.f32", as: Float.self)
        let expectedScales = try ImportanceSearchFixtureTests.load("\(name).scales.f32", as: Float.self)
        let granularity: FP8Quantizer.Granularity = c.block_rows == 0 ? .row : .block(rows: c.block_rows, columns: c.block_columns)
        for threads in [1, 2] {
            let q = FP8Quantizer(variant: .e4m3, granularity: granularity, threads: threads, clipSearch: FP8ClipSearch())
            let result = q.quantize(weights, rowLength: m.columns, importance: c.weighted ? importance : nil)
            #expect(result.scales == expectedScales)
            let values = result.codes.map { FP8.float(e4m3: $0) }
            let mismatches = zip(values, expectedValues).filter { $0 != $1 }.count
            #expect(mismatches == 0, "\(name): \(mismatches) of \(values.count) values differ")
            // Some scale was clipped below absmax / 448.
            #expect(FP8Quantizer(variant: .e4m3, granularity: granularity).quantize(weights, rowLength: m.columns).scales != result.scales)
        }
    }

    @Test func withoutASearchImportanceChangesNothing() throws {
        let weights = try ImportanceSearchFixtureTests.load("m12x256.weight.f32", as: Float.self)
        let importance = try ImportanceSearchFixtureTests.load("m12x256.importance.f32", as: Float.self)
        let q = FP8Quantizer(variant: .e4m3, granularity: .row)
        #expect(q.quantize(weights, rowLength: 256, importance: importance) == q.quantize(weights, rowLength: 256))
    }
}
