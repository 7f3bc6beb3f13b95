import LowbitFormats
import Testing
@testable import lowbit

/// The CLI's shared output rules: metadata as JSON, and the progress line.
@Suite("CLI output formatting")
struct OutputFormattingTests {
    @Test func integersBeyond2To53AreStrings() {
        #expect(JSONOutput.json(.uint64(1 << 53)) == .integer(1 << 53))
        #expect(JSONOutput.json(.uint64((1 << 53) + 1)) == .string("9007199254740993"))
        #expect(JSONOutput.json(.uint64(.max)) == .string("18446744073709551615"))
        #expect(JSONOutput.json(.int64(-(1 << 53))) == .integer(-(1 << 53)))
        #expect(JSONOutput.json(.int64(.min)) == .string("-9223372036854775808"))
        #expect(JSONOutput.json(.int32(-5)) == .integer(-5))
    }

    @Test func floatsPrintShortestAndNonFiniteAsNull() {
        #expect(JSONOutput.json(.float32(1e-5)).serialized() == "1e-05")
        #expect(JSONOutput.json(.float32(0.1)).serialized() == "0.1")
        #expect(JSONOutput.json(.float32(.nan)) == .null)
        #expect(JSONOutput.json(.float64(-.infinity)) == .null)
        #expect(JSONOutput.json(.float64(0.1)) == .number(0.1))
    }

    @Test func nestedArraysStayNested() {
        let value = MetadataValue.array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.string, [.string("x")])])
        #expect(JSONOutput.json(value).serialized() == #"[[1,2],["x"]]"#)
    }

    @Test func statisticsJSON() {
        let s = TensorStatistics([1, 2, 3, .nan, .infinity])
        let json = JSONOutput.json(s)
        #expect(json.objectValue?.map(\.key) == ["min", "max", "mean", "std", "absmax", "nan", "inf"])
        #expect(json["mean"] == .number(2) && json["nan"] == .integer(1) && json["inf"] == .integer(1))
        #expect(JSONOutput.json(TensorStatistics.empty)["min"] == .null)
    }

    @Test func metadataTableSummarisesLongArrays() {
        let long = MetadataValue.array(.string, (0..<65).map { .string("t\($0)") })
        #expect(InspectReport.describe(long, full: false) == "[STRING x 65]")
        #expect(InspectReport.describe(long, full: true).hasPrefix("[\"t0\", \"t1\""))
        let short = MetadataValue.array(.uint64, [.uint64(.max)])
        #expect(InspectReport.describe(short, full: false) == "[18446744073709551615]")
        #expect(InspectReport.describe(.string("a\nb"), full: false) == #""a\nb""#)
    }

    @Test func progressLine() {
        let line = ProgressBar.line(title: "stats", items: 3, totalItems: 10, unit: "tensors", bytes: 500_000_000,
                                    totalBytes: 2_000_000_000, seconds: 1, width: 120)
        #expect(line.contains("3/10 tensors"))
        #expect(line.contains("500.0 MB/2.00 GB"))
        #expect(line.contains("500.0 MB/s"))
        #expect(line.contains("ETA 0:03"))
        #expect(line.hasPrefix("[##########"))
        #expect(ProgressBar.formatDuration(3725) == "1:02:05")
        #expect(!ProgressBar(title: "x", totalItems: 1, totalBytes: 1, enabled: false).isEnabled)
    }

    @Test func progressLineCountingItemsOnly() {
        let line = ProgressBar.line(title: "imatrix", items: 3, totalItems: 20, unit: "chunks", bytes: 0,
                                    totalBytes: 0, seconds: 6, width: 120)
        #expect(line.contains("imatrix 3/20 chunks  0.50 chunks/s  ETA 0:34"), "\(line)")
        #expect(line.hasPrefix("[######."), "3 of 20 chunks fill 6 of the 40 places")
    }

    @Test func groupedNumbers() {
        #expect(InspectReport.grouped(134_515_008) == "134,515,008")
        #expect(InspectReport.grouped(12) == "12")
        #expect(InspectReport.formatCount(134_515_008) == "134.5M")
    }
}
