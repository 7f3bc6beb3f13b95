import Foundation
import LowbitFormats
import Testing
import LowbitTestSupport

/// `lowbit inspect --json` on the GGUF fixtures written by gguf-py, against the values the
/// Python writer recorded in fixtures/gguf/expected.json.
@Suite("inspect: GGUF fixtures")
struct InspectGGUFTests {
    static let expected: [(key: String, value: JSONValue)] =
        (try? CLI.loadJSON("gguf/expected.json").objectValue) ?? []

    @Test func fixturesArePresent() {
        #expect(InspectGGUFTests.expected.count >= 5)
    }

    @Test(arguments: InspectGGUFTests.expected.map(\.key))
    func listingMatchesPythonWriter(_ name: String) throws {
        let want = try #require(InspectGGUFTests.expected.first { $0.key == name }?.value)
        let path = CLI.fixture("gguf/valid/\(name)")
        let doc = try CLI.json(["inspect", path, "--json"])
        #expect(doc.objectValue?.map(\.key) == ["format", "metadata", "tensors"])
        #expect(doc["format"] == .string("gguf"))

        let tensors = try #require(doc["tensors"]?.arrayValue)
        let wantTensors = try #require(want["tensors"]?.arrayValue)
        #expect(tensors.count == wantTensors.count)
        for (got, w) in zip(tensors, wantTensors) {
            #expect(got.objectValue?.map(\.key) == ["name", "dtype", "shape", "offset", "nbytes", "file"])
            #expect(got["name"] == w["name"])
            #expect(got["dtype"] == w["type"])
            #expect(got["shape"] == w["shape"])
            #expect(got["offset"] == w["offset"])
            #expect(got["nbytes"] == w["nbytes"])
            #expect(got["file"] == .string(path))
        }

        let metadata = try #require(doc["metadata"]?.objectValue)
        let wantMetadata = try #require(want["metadata"]?.arrayValue)
        #expect(metadata.map(\.key) == wantMetadata.compactMap { $0["key"]?.stringValue })
        for (got, w) in zip(metadata, wantMetadata) {
            #expect(got.value == InspectGGUFTests.expectedJSON(w), "\(got.key)")
        }
    }

    /// What `--json` must print for a typed value of expected.json: integers beyond 2^53 as
    /// strings, float32 in its shortest form, non-finite numbers as null, arrays nested.
    static func expectedJSON(_ typed: JSONValue) -> JSONValue {
        let type = typed["type"]?.stringValue ?? ""
        switch type {
        case "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "UINT64", "INT64":
            let text = typed["value"]?.stringValue ?? ""
            if let v = Int64(text), v.magnitude <= 1 << 53 { return .integer(v) }
            return .string(text)
        case "FLOAT32":
            let f = Float(bitPattern: UInt32(typed["bits"]?.intValue ?? 0))
            return f.isFinite ? .number(Double(f.description)!) : .null
        case "FLOAT64":
            let bits = typed["bits"]?.stringValue.flatMap { UInt64($0) } ?? 0
            let d = Double(bitPattern: bits)
            return d.isFinite ? .number(d) : .null
        case "ARRAY":
            return .array((typed["value"]?.arrayValue ?? []).map(expectedJSON))
        default:
            return typed["value"] ?? .null
        }
    }

    @Test func statsOnEveryDecodableType() throws {
        let path = CLI.fixture("gguf/valid/all_types.gguf")
        let doc = try CLI.json(["inspect", path, "--json", "--stats"])
        let tensors = try #require(doc["tensors"]?.arrayValue)
        var withStats: Set<String> = []
        for t in tensors {
            let stats = try #require(t["stats"])
            guard stats != .null else { continue }
            withStats.insert(t["dtype"]?.stringValue ?? "")
            #expect(stats.objectValue?.map(\.key) == ["min", "max", "mean", "std", "absmax", "nan", "inf"])
            if let mn = stats["min"]?.doubleValue, let mx = stats["max"]?.doubleValue,
               let mean = stats["mean"]?.doubleValue, let absmax = stats["absmax"]?.doubleValue {
                #expect(mn <= mean && mean <= mx)
                #expect(absmax == max(abs(mn), abs(mx)))
            }
        }
        for type in ["F32", "F16", "F64", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"] {
            #expect(withStats.contains(type), "no stats for \(type)")
        }
    }

    @Test func statsOfF32MatchTheStoredValues() throws {
        // plain.f32.1d holds 7 F32 values; decode them from the expected hex and compare.
        let path = CLI.fixture("gguf/valid/all_types.gguf")
        let doc = try CLI.json(["inspect", path, "--json", "--stats", "--filter", "^plain\\.f32\\.1d$"])
        let tensors = try #require(doc["tensors"]?.arrayValue)
        try #require(tensors.count == 1)
        let want = try #require(InspectGGUFTests.expected.first { $0.key == "all_types.gguf" }?.value)
        let entry = try #require(want["tensors"]?.arrayValue?.first { $0["name"] == .string("plain.f32.1d") })
        let bytes = hexBytes(entry["hex"]?.stringValue ?? "")
        let values = stride(from: 0, to: bytes.count, by: 4).map { i in
            Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
        }
        let reference = TensorStatistics.reference(values)
        let stats = try #require(tensors[0]["stats"])
        #expect(stats["nan"] == .integer(Int64(reference.nan)))
        #expect(stats["inf"] == .integer(Int64(reference.inf)))
        if reference.count > 0 {
            #expect(stats["min"]?.doubleValue == reference.min)
            #expect(stats["max"]?.doubleValue == reference.max)
            #expect(abs((stats["mean"]?.doubleValue ?? .nan) - reference.mean) <= 1e-12 * max(1, abs(reference.mean)))
            #expect(abs((stats["std"]?.doubleValue ?? .nan) - reference.std) <= 1e-9 * max(1, reference.std))
        }
    }

    @Test func tableShowsTotalsAndSummarisesLongArrays() throws {
        let path = CLI.fixture("gguf/valid/small.gguf")
        let result = try CLI.run(["inspect", path])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Totals by dtype"))
        #expect(result.stdout.contains("Parameters: "))
        #expect(result.stdout.contains("token_embd.weight"))
        #expect(result.stdout.contains("general.architecture = \"llama\""))
    }

    @Test func filterSelectsTensorsByRegex() throws {
        let path = CLI.fixture("gguf/valid/all_types.gguf")
        let doc = try CLI.json(["inspect", path, "--json", "--filter", "^layout\\.q[0-9]_k$"])
        let names = doc["tensors"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names == ["layout.q2_k", "layout.q3_k", "layout.q4_k", "layout.q5_k", "layout.q6_k", "layout.q8_k"])
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = hex.utf8.makeIterator()
    func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
    while let a = it.next(), let b = it.next() { out.append(nibble(a) << 4 | nibble(b)) }
    return out
}
