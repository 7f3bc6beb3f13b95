import LowbitSystem

/// A safetensors checkpoint: a single file, or shards tied together by an index
/// (`model.safetensors.index.json`), seen as one ``TensorSource``.
///
/// The index and the shards must agree exactly: every shard the index names must exist; every
/// tensor the index maps to a shard must be in that shard; every tensor in a shard must be
/// mapped by the index to that shard. Other `*.safetensors` files in the directory (such as a
/// `consolidated.safetensors` beside the shards) are not read; they are listed in
/// ``ignoredFiles``.
public final class SafetensorsCheckpoint: TensorSource {
    /// The name of the index file of a sharded Hugging Face checkpoint.
    public static let indexFileName = "model.safetensors.index.json"
    /// The name of a single-file Hugging Face checkpoint.
    public static let singleFileName = "model.safetensors"
    /// Index files larger than this are refused.
    public static let maxIndexLength = 100_000_000

    /// The path the checkpoint was opened with (directory, index or single file).
    public let path: String
    /// Always ``ModelFormat/safetensors``.
    public var format: ModelFormat { .safetensors }
    /// The index's `metadata` (such as `total_size`), then the shards' `__metadata__` (a key
    /// repeated by a later shard with a different value appears as `<shard file>/<key>`).
    public let metadata: [(key: String, value: MetadataValue)]
    /// All tensors: shard by shard in file-name order, each shard in file order.
    /// ``TensorInfo/file`` is the path of the shard holding the tensor.
    public let tensors: [TensorInfo]
    /// The path of the index file, or nil for a single file.
    public let indexPath: String?
    /// The shards (one for a single file), in file-name order.
    public let shards: [SafetensorsFile]
    /// Paths of `*.safetensors` files in the checkpoint directory that the checkpoint does not
    /// reference and that were therefore not read, sorted.
    public let ignoredFiles: [String]
    private let shardByPath: [String: SafetensorsFile]

    /// Opens a checkpoint.
    ///
    /// - Parameter path: a directory (holding `model.safetensors.index.json`, or another single
    ///   `*.safetensors.index.json`, or `model.safetensors`, or exactly one `*.safetensors`), an
    ///   index file (`*.json`), or a single `.safetensors` file.
    /// - Throws: ``FormatError`` naming the index or shard, the tensor, and what is wrong.
    public init(path: String) throws {
        self.path = path
        let (directory, index, single) = try SafetensorsCheckpoint.locate(path)
        var opened: [SafetensorsFile]
        if let index {
            let directory = directory ?? "."
            let (shardNames, weightMap, indexMetadata) = try SafetensorsCheckpoint.readIndex(index, directory: directory)
            opened = []
            for shardName in shardNames {
                let shardPath = SafetensorsCheckpoint.join(directory, shardName)
                guard CheckpointDirectory.isRegularFile(shardPath) else {
                    let example = weightMap.first { $0.value == shardName }?.key
                    throw FormatError(.missingFile, file: index, item: example,
                        "the index maps tensors to shard \(shardName), but \(shardPath) does not exist")
                }
                opened.append(try SafetensorsFile(path: shardPath))
            }
            try SafetensorsCheckpoint.checkAgreement(index: index, weightMap: weightMap,
                                                     shards: zip(shardNames, opened).map { ($0, $1) })
            metadata = SafetensorsCheckpoint.mergeMetadata(indexMetadata, opened)
            indexPath = index
            let referenced = Set(shardNames.map { SafetensorsCheckpoint.join(directory, $0) })
            ignoredFiles = CheckpointDirectory.safetensorsFiles(in: directory)
                .map { SafetensorsCheckpoint.join(directory, $0) }
                .filter { !referenced.contains($0) }
        } else {
            let file = try SafetensorsFile(path: single!)
            opened = [file]
            metadata = file.metadata
            indexPath = nil
            ignoredFiles = directory.map { dir in
                CheckpointDirectory.safetensorsFiles(in: dir)
                    .map { SafetensorsCheckpoint.join(dir, $0) }
                    .filter { $0 != single }
            } ?? []
        }
        shards = opened
        tensors = opened.flatMap(\.tensors)
        shardByPath = Dictionary(opened.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Calls `body` with the tensor's bytes from the shard that holds it.
    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let shard = shardByPath[tensor.file] else {
            throw FormatError(.missingTensor, file: path, item: tensor.name,
                "tensor belongs to \(tensor.file), which is not a shard of this checkpoint")
        }
        return try shard.withBytes(of: tensor, body)
    }

    /// Checks that the tensor's shard has not shrunk or been replaced since it was opened.
    public func checkIntact(_ tensor: TensorInfo) throws -> String? {
        try shardByPath[tensor.file]?.checkIntact(tensor)
    }

    /// Lets the kernel drop the tensor's pages from memory.
    public func release(_ tensor: TensorInfo) {
        shardByPath[tensor.file]?.release(tensor)
    }

    // MARK: - Locating the files

    /// Returns the checkpoint directory (nil for a bare file path with no directory listing
    /// wanted), the index path or the single file path.
    private static func locate(_ path: String) throws -> (directory: String?, index: String?, single: String?) {
        if CheckpointDirectory.isDirectory(path) {
            let dir = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
            let names = CheckpointDirectory.entries(of: dir)
            if names.contains(indexFileName) { return (dir, join(dir, indexFileName), nil) }
            let indexes = names.filter { $0.hasSuffix(".safetensors.index.json") }
            if indexes.count == 1 { return (dir, join(dir, indexes[0]), nil) }
            if indexes.count > 1 {
                throw FormatError(.missingFile, file: dir,
                    "several index files (\(indexes.joined(separator: ", "))) and no \(indexFileName); open one of them")
            }
            if names.contains(singleFileName) { return (dir, nil, join(dir, singleFileName)) }
            let files = CheckpointDirectory.safetensorsFiles(in: dir)
            if files.count == 1 { return (dir, nil, join(dir, files[0])) }
            throw FormatError(.missingFile, file: dir, files.isEmpty
                ? "no \(indexFileName), \(singleFileName) or other .safetensors file in the directory"
                : "no \(indexFileName) or \(singleFileName), and \(files.count) .safetensors files; open one of them")
        }
        guard CheckpointDirectory.isRegularFile(path) else {
            throw FormatError(.missingFile, file: path, "no such file or directory")
        }
        let dir = parentDirectory(path)
        if path.hasSuffix(".json") { return (dir, path, nil) }
        return (nil, nil, path)
    }

    /// Reads the index: shard file names (sorted, unique), the weight map in file order, and the
    /// index's own metadata.
    private static func readIndex(_ index: String, directory: String?) throws
        -> (shards: [String], weightMap: [(key: String, value: String)], metadata: [(key: String, value: MetadataValue)])
    {
        let file = try MappedFile(path: index)
        guard file.count <= maxIndexLength else {
            throw FormatError(.limitExceeded, file: index, "index file is \(file.count) bytes, more than the limit of \(maxIndexLength)")
        }
        let json: JSONValue
        do {
            json = try file.withBytes(0..<file.count) { try JSONValue.parse($0, maxDepth: 32) }
        } catch let error as JSONError {
            if error.kind == .duplicateKey {
                throw FormatError(.duplicateName, file: index, item: error.item, "the index names '\(error.item ?? "")' twice")
            }
            throw FormatError(.badHeader, file: index, "index is not valid JSON: \(error.reason) (byte \(error.offset ?? 0))")
        }
        guard case .object = json else {
            throw FormatError(.badHeader, file: index, "index is not a JSON object")
        }
        guard case .object(let map)? = json["weight_map"] else {
            throw FormatError(.badHeader, file: index, item: "weight_map", "index has no \"weight_map\" object")
        }
        var weightMap: [(key: String, value: String)] = []
        var shardSet = Set<String>()
        for (name, value) in map {
            guard case .string(let shard) = value else {
                throw FormatError(.badHeader, file: index, item: name, "weight_map values must be shard file names")
            }
            let components = shard.split(separator: "/", omittingEmptySubsequences: false)
            guard !shard.isEmpty, !shard.hasPrefix("/"), !components.contains(".."), !components.contains("") else {
                throw FormatError(.badHeader, file: index, item: name,
                    "shard name '\(shard)' must be a relative path inside the checkpoint directory")
            }
            weightMap.append((key: name, value: shard))
            shardSet.insert(shard)
        }
        var metadata: [(key: String, value: MetadataValue)] = []
        if case .object(let members)? = json["metadata"] {
            for (key, value) in members {
                switch value {
                case .null: continue
                case .bool(let b): metadata.append((key, .bool(b)))
                case .integer(let v): metadata.append((key, .int64(v)))
                case .unsignedInteger(let v): metadata.append((key, .uint64(v)))
                case .number(let v): metadata.append((key, .float64(v)))
                case .string(let s): metadata.append((key, .string(s)))
                case .array, .object: metadata.append((key, .string(value.serialized())))
                }
            }
        }
        let shards = shardSet.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return (shards, weightMap, metadata)
    }

    /// Checks that the index and the shards name exactly the same tensors in the same places.
    private static func checkAgreement(index: String, weightMap: [(key: String, value: String)],
                                       shards: [(name: String, file: SafetensorsFile)]) throws {
        var expected: [String: String] = [:]
        expected.reserveCapacity(weightMap.count)
        for (name, shard) in weightMap { expected[name] = shard }
        for (shardName, file) in shards {
            var present = Set<String>()
            present.reserveCapacity(file.tensors.count)
            for tensor in file.tensors {
                present.insert(tensor.name)
                guard let mapped = expected[tensor.name] else {
                    throw FormatError(.missingTensor, file: file.path, item: tensor.name,
                        "tensor is in shard \(shardName) but the index \(index) does not name it")
                }
                guard mapped == shardName else {
                    throw FormatError(.missingTensor, file: file.path, item: tensor.name,
                        "tensor is in shard \(shardName) but the index \(index) maps it to \(mapped)")
                }
            }
            for (name, shard) in weightMap where shard == shardName && !present.contains(name) {
                throw FormatError(.missingTensor, file: file.path, item: name,
                    "the index \(index) maps this tensor to shard \(shardName), which does not contain it")
            }
        }
    }

    private static func mergeMetadata(_ indexMetadata: [(key: String, value: MetadataValue)],
                                      _ shards: [SafetensorsFile]) -> [(key: String, value: MetadataValue)] {
        var merged = indexMetadata
        var seen: [String: MetadataValue] = [:]
        for (key, value) in indexMetadata where seen[key] == nil { seen[key] = value }
        for shard in shards {
            let shardName = shard.path.split(separator: "/").last.map(String.init) ?? shard.path
            for (key, value) in shard.metadata {
                if let existing = seen[key] {
                    if existing != value { merged.append((key: "\(shardName)/\(key)", value: value)) }
                } else {
                    seen[key] = value
                    merged.append((key: key, value: value))
                }
            }
        }
        return merged
    }

    private static func join(_ directory: String?, _ name: String) -> String {
        guard let directory else { return name }
        return directory == "/" ? "/" + name : directory + "/" + name
    }

    private static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }
}

/// Small directory helpers for locating checkpoint files.
enum CheckpointDirectory {
    static func isDirectory(_ path: String) -> Bool {
        (try? SystemCalls.status(path: path))?.isDirectory ?? false
    }

    static func isRegularFile(_ path: String) -> Bool {
        (try? SystemCalls.status(path: path))?.isRegularFile ?? false
    }

    /// The names in `directory` (without `.` and `..`), sorted.
    static func entries(of directory: String) -> [String] {
        (SystemCalls.list(directory) ?? []).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Names of the regular `*.safetensors` files in `directory`, sorted.
    static func safetensorsFiles(in directory: String) -> [String] {
        entries(of: directory).filter {
            $0.hasSuffix(".safetensors") && isRegularFile(directory == "/" ? "/" + $0 : directory + "/" + $0)
        }
    }
}
