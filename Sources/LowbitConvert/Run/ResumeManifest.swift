import Foundation
import LowbitFormats
import LowbitSystem

/// The record a directory conversion keeps in its temporary directory, so that a run killed
/// outright (SIGKILL, power loss) can be continued with `--resume` at the cost of at most one
/// shard: the plan it belongs to, and each finished shard's size and hashes.
///
/// Stored as `lowbit-resume.json` beside the shards, rewritten atomically after every shard.
struct ResumeManifest: Equatable {
    /// The file name inside the temporary directory.
    static let fileName = "lowbit-resume.json"
    /// Bytes at the end of a shard that the quick check hashes.
    static let tailLength = 1 << 20

    /// A finished shard.
    struct Shard: Equatable {
        var name: String
        var size: Int
        /// ``ContentHash`` of the last ``ResumeManifest/tailLength`` bytes.
        var tailHash: String
        /// ``ContentHash`` of the whole file.
        var fullHash: String
    }

    /// ``ConversionPlan/resumeFingerprint(extra:)`` of the run that wrote the shards.
    var plan: String
    var shards: [Shard] = []

    func json() -> JSONValue {
        .object([
            ("format", .string("lowbit-resume/1")),
            ("plan", .string(plan)),
            ("shards", .array(shards.map {
                .object([("name", .string($0.name)), ("size", .integer(Int64($0.size))),
                         ("tail_hash", .string($0.tailHash)), ("full_hash", .string($0.fullHash))])
            })),
        ])
    }

    /// Reads a manifest; nil if it is missing or not one Lowbit wrote.
    static func read(directory: String) -> ResumeManifest? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + fileName),
              data.count < 16 << 20,
              let json = try? JSONValue.parse([UInt8](data)),
              json["format"]?.stringValue == "lowbit-resume/1",
              let plan = json["plan"]?.stringValue,
              let shards = json["shards"]?.arrayValue else { return nil }
        var manifest = ResumeManifest(plan: plan)
        for s in shards {
            guard let name = s["name"]?.stringValue, let size = s["size"]?.intValue,
                  let tail = s["tail_hash"]?.stringValue, let full = s["full_hash"]?.stringValue,
                  !name.contains("/"), !name.hasPrefix(".") else { return nil }
            manifest.shards.append(Shard(name: name, size: size, tailHash: tail, fullHash: full))
        }
        return manifest
    }

    /// Writes the manifest atomically into `directory`.
    func write(directory: String) throws {
        let file = try AtomicFile(path: directory + "/" + Self.fileName)
        try file.write(Array((json().serialized(pretty: true) + "\n").utf8))
        try file.commit()
    }

    /// Hashes `path` from `offset` to its end.
    static func hash(file path: String, from offset: Int = 0) throws -> ContentHash {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FormatError(.io, file: path, "cannot open to check it")
        }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        var hash = ContentHash()
        while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty {
            chunk.withUnsafeBytes { hash.update($0) }
        }
        return hash
    }

    /// The record of a shard just written at `path`, whose full hash was streamed.
    static func finished(name: String, path: String, size: Int, fullHash: ContentHash) throws -> Shard {
        let tail = try hash(file: path, from: max(0, size - tailLength))
        return Shard(name: name, size: size, tailHash: tail.hex, fullHash: fullHash.hex)
    }

    /// Whether the shard on disk is still what was recorded: its size and tail hash, or with
    /// `fully` its whole hash.
    static func check(_ shard: Shard, in directory: String, fully: Bool) -> Bool {
        let path = directory + "/" + shard.name
        guard let identity = FileIdentity.of(path: path), identity.size == shard.size else { return false }
        if fully {
            return (try? hash(file: path).hex) == shard.fullHash
        }
        return (try? hash(file: path, from: max(0, shard.size - tailLength)).hex) == shard.tailHash
    }
}

extension ConversionPlan {
    /// What makes two runs the same conversion: Lowbit's version, `extra` (the options as the
    /// command line gave them), the plan itself (every tensor's output type and size), and each
    /// input file's size, modification time and inode. Two runs with equal fingerprints write
    /// byte-identical shards.
    public func resumeFingerprint(extra: String) -> String {
        var text = "lowbit \(LowbitVersion.current)\n\(extra)\n"
        text += json().serialized(pretty: false) + "\n"
        var files = Set(input.source.tensors.map(\.file))
        for name in ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"] {
            if let path = input.directoryFile(name) { files.insert(path) }
        }
        for path in files.sorted() {
            let id = FileIdentity.of(path: path)
            text += "\(path) size=\(id?.size ?? -1) mtime=\(id?.modified ?? -1) inode=\(id?.inode ?? 0)\n"
        }
        var hash = ContentHash()
        hash.update(Array(text.utf8))
        return hash.hex + "-" + String(text.utf8.count)
    }
}

/// Lowbit's version, as `lowbit --version` prints it.
public enum LowbitVersion {
    /// The version string; it is part of the resume fingerprint, so only the same version resumes a run.
    public static let current = "0.3.0"
}
