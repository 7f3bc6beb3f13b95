import Foundation
import LowbitFormats
import Testing

/// `lowbit inspect --json` on the safetensors fixtures written by the `safetensors` package,
/// against fixtures/safetensors/expected.json.
@Suite("inspect: safetensors fixtures")
struct InspectSafetensorsTests {
    static let expected: [(key: String, value: JSONValue)] =
        (try? CLI.loadJSON("safetensors/expected.json").objectValue) ?? []

    /// The fixtures that are files of their own (shards are checked through their checkpoint).
    static let singleFiles = expected.map(\.key).filter { !$0.hasPrefix("sharded/") }

    @Test func fixturesArePresent() {
        #expect(InspectSafetensorsTests.singleFiles.count >= 5)
    }

    @Test(arguments: InspectSafetensorsTests.singleFiles)
    func listingMatchesPythonWriter(_ name: String) throws {
        let want = try #require(InspectSafetensorsTests.expected.first { $0.key == name }?.value)
        let path = CLI.fixture("safetensors/\(name)")
        let doc = try CLI.json(["inspect", path, "--json"])
        #expect(doc["format"] == .string("safetensors"))
        #expect(doc["metadata"] == (want["metadata"] ?? .object([])))
        try checkTensors(doc, want: want, file: path)
    }

    func checkTensors(_ doc: JSONValue, want: JSONValue, file: String) throws {
        let got = try #require(doc["tensors"]?.arrayValue)
        let wantTensors = try #require(want["tensors"]?.arrayValue)
        for w in wantTensors {
            let name = try #require(w["name"]?.stringValue)
            let g = try #require(got.first { $0["name"] == .string(name) }, "missing \(name)")
            #expect(g["dtype"] == w["dtype"], "\(name)")
            #expect(g["shape"] == w["shape"], "\(name)")
            #expect(g["offset"] == w["offset"], "\(name)")
            #expect(g["nbytes"] == w["nbytes"], "\(name)")
            #expect(g["file"] == .string(file), "\(name)")
        }
    }

    @Test func shardedCheckpointNamesTheShardOfEachTensor() throws {
        for target in ["safetensors/sharded", "safetensors/sharded/model.safetensors.index.json"] {
            let result = try CLI.run(["inspect", CLI.fixture(target), "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            // the unreferenced consolidated.safetensors is ignored and mentioned
            #expect(result.stderr.contains("consolidated.safetensors"))
            let doc = try JSONValue.parse(result.stdout)
            var count = 0
            for shard in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
                let want = try #require(InspectSafetensorsTests.expected.first { $0.key == "sharded/\(shard)" }?.value)
                let wantTensors = try #require(want["tensors"]?.arrayValue)
                count += wantTensors.count
                for w in wantTensors {
                    let g = try #require(doc["tensors"]?.arrayValue?.first { $0["name"] == w["name"] })
                    let file = try #require(g["file"]?.stringValue)
                    #expect(URL(fileURLWithPath: file).standardizedFileURL.path
                            == URL(fileURLWithPath: CLI.fixture("safetensors/sharded/\(shard)")).standardizedFileURL.path)
                    #expect(g["offset"] == w["offset"])
                    #expect(g["nbytes"] == w["nbytes"])
                }
            }
            #expect(doc["tensors"]?.arrayValue?.count == count)
        }
    }

    @Test func statsMatchTheStoredValues() throws {
        let name = "valid/all_dtypes.safetensors"
        let want = try #require(InspectSafetensorsTests.expected.first { $0.key == name }?.value)
        let doc = try CLI.json(["inspect", CLI.fixture("safetensors/\(name)"), "--json", "--stats"])
        var checked: Set<String> = []
        for w in want["tensors"]?.arrayValue ?? [] {
            let dtype = w["dtype"]?.stringValue ?? ""
            guard ["F32", "F16", "BF16", "F64", "F8_E4M3", "F8_E5M2", "F8_E8M0"].contains(dtype),
                  let raw = w["values"]?.arrayValue else { continue }
            let g = try #require(doc["tensors"]?.arrayValue?.first { $0["name"] == w["name"] })
            let stats = try #require(g["stats"])
            // Lowbit decodes to float32 (F64 rounds to nearest) and sums in float64.
            let values: [Float] = raw.map { v in
                switch v {
                case .string("nan"): .nan
                case .string("inf"): .infinity
                case .string("-inf"): -.infinity
                default: Float(v.doubleValue ?? .nan)
                }
            }
            let r = TensorStatistics.reference(values)
            #expect(stats["nan"] == .integer(Int64(r.nan)), "\(dtype)")
            #expect(stats["inf"] == .integer(Int64(r.inf)), "\(dtype)")
            if r.count == 0 {
                #expect(stats["min"] == .null && stats["std"] == .null)
            } else {
                #expect(stats["min"]?.doubleValue == r.min, "\(dtype)")
                #expect(stats["max"]?.doubleValue == r.max, "\(dtype)")
                let scale = max(abs(r.min), abs(r.max), 1e-300)
                #expect(abs((stats["mean"]?.doubleValue ?? .nan) - r.mean) <= 1e-12 * scale, "\(dtype)")
                #expect(abs((stats["std"]?.doubleValue ?? .nan) - r.std) <= 1e-9 * scale, "\(dtype)")
            }
            checked.insert(dtype)
        }
        #expect(checked.isSuperset(of: ["F32", "F16", "BF16", "F64", "F8_E4M3", "F8_E5M2"]))
        // Types Lowbit cannot decode yet carry "stats": null.
        let c64 = try #require(doc["tensors"]?.arrayValue?.first { $0["dtype"] == .string("C64") })
        #expect(c64["stats"] == .null)
    }
}
