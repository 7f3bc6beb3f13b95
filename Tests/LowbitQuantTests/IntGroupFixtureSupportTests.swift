import Foundation
import LowbitFormats
import Testing
import LowbitTestSupport

/// Reads fixtures/ctq/ctq_fixtures.safetensors (made by fixtures/ctq/make_fixtures.py, an
/// independent numpy + ml_dtypes reimplementation of compressed-tensors and MLX).
struct CTQFixture {
    static let path = Fixtures.path("ctq/ctq_fixtures.safetensors")

    let file: SafetensorsFile

    init() throws { file = try SafetensorsFile(path: Self.path) }

    func info(_ name: String) throws -> TensorInfo {
        try #require(file.tensor(named: name), "fixture tensor \(name) missing")
    }

    func shape(_ name: String) throws -> [Int] { try info(name).shape }

    func floats(_ name: String) throws -> [Float] {
        try file.withBytes(of: info(name)) { FloatFormat.f32.decode($0) }
    }

    func bytes(_ name: String) throws -> [UInt8] {
        try file.withBytes(of: info(name)) { Array($0) }
    }

    /// I32 tensors (packed words), as the unsigned words they hold.
    func words(_ name: String) throws -> [UInt32] {
        try file.withBytes(of: info(name)) { raw in
            (0..<(raw.count / 4)).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
    }
}

@Suite struct IntGroupFixtureSupportTests {
    @Test func fixtureIsPresentAndSmall() throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: CTQFixture.path)
        let size = try #require(attributes[.size] as? Int)
        #expect(size < 2_000_000)
        let fixture = try CTQFixture()
        #expect(try fixture.shape("in.a") == [70, 384])
    }
}
