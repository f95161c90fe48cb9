import Dispatch
import Foundation

/// Follows `<town>/.gt/events.jsonl` (every writer of the town appends to it: the node's components, `gt` and `bd`
/// processes, agents' `gt` calls; `TownEvents`) and fans each new line out to the open event streams, keeping the
/// latest `backlog` events in memory for `/api/events` and for streams that reconnect (`Last-Event-ID`). One
/// follower per node however many browsers watch: a page view never reads the file.
///
/// The file is polled (`poll`, default 0.25 s: one `fstat` when nothing changed) on the feed's own queue, never on
/// the cooperative pool. A file that shrank or was replaced (rotated) is read again from its start. Each event is
/// numbered (the SSE `id`) in the order read.
///
/// `@unchecked Sendable`: all state is confined to `queue`.
public final class EventFeed: @unchecked Sendable {
    /// One event as read: its number and its JSON line.
    public struct Entry: Sendable, Equatable {
        public var id: UInt64
        public var line: String
    }

    let path: String
    let backlog: Int
    let heartbeat: TimeInterval
    private let queue = DispatchQueue(label: "gastown.dashboard.events")
    private var timer: DispatchSourceTimer?
    private var offset: UInt64 = 0
    private var inode: UInt64 = 0
    private var partial: [UInt8] = []
    private var recent: [Entry] = []
    private var nextID: UInt64 = 1
    private var streams: [ObjectIdentifier: any HTTPEventStream] = [:]
    private var sinceBeat: TimeInterval = 0
    private var sinceHousekeeping: TimeInterval = 0
    private var onLine: [@Sendable (String) -> Void] = []
    private var total: UInt64 = 0

    /// A feed of `path`, keeping `backlog` events in memory, with an SSE comment every `heartbeat` seconds.
    public init(path: String, backlog: Int = 200, heartbeat: TimeInterval = 15) {
        self.path = path
        self.backlog = backlog
        self.heartbeat = heartbeat
    }

    /// Starts following (reads the file's existing tail first); `housekeeping` runs on the feed's queue every 2 s
    /// (the dashboard refreshes its copy of the Witness's report there).
    public func start(poll: TimeInterval = 0.25, housekeeping: @escaping @Sendable () -> Void = {}) {
        queue.async { [self] in
            readNew()
            housekeeping()
            let source = DispatchSource.makeTimerSource(queue: queue)
            source.schedule(deadline: .now() + poll, repeating: poll)
            source.setEventHandler { [weak self] in
                guard let self else { return }
                readNew()
                sinceHousekeeping += poll
                if sinceHousekeeping >= 2 {
                    sinceHousekeeping = 0
                    housekeeping()
                }
                sinceBeat += poll
                if sinceBeat >= heartbeat {
                    sinceBeat = 0
                    broadcast(Array(": keep-alive\n\n".utf8))
                }
            }
            source.activate()
            timer = source
        }
    }

    /// Stops following and closes every stream.
    public func stop() {
        queue.sync {
            timer?.cancel()
            timer = nil
            streams = [:]
        }
    }

    /// Reads what was appended now (tests and a fresh page use it to not wait for the next poll).
    public func pollNow() { queue.sync { readNew() } }

    /// The latest events, oldest first (at most `limit`).
    public func latest(_ limit: Int) -> [Entry] { queue.sync { Array(recent.suffix(limit)) } }

    /// Events read since the feed started, and streams open now.
    public var counters: (events: UInt64, streams: Int) { queue.sync { (total, streams.count) } }

    /// Calls `body` with each new line (on the feed's queue; keep it short).
    public func observe(_ body: @escaping @Sendable (String) -> Void) { queue.async { self.onLine.append(body) } }

    /// Adds an open stream: sends the events after `lastID` still in memory (all of the backlog when nil, up to
    /// `replay`), then every new one.
    public func add(_ stream: any HTTPEventStream, lastID: UInt64?, replay: Int = 50) {
        queue.async { [self] in
            let missed = lastID.map { id in recent.filter { $0.id > id } } ?? Array(recent.suffix(replay))
            var bytes = Array("retry: 2000\n\n".utf8)
            for entry in missed { bytes += Self.frame(entry) }
            guard stream.send(bytes) else { return }
            streams[ObjectIdentifier(stream)] = stream
        }
    }

    static func frame(_ entry: Entry) -> [UInt8] {
        Array("id: \(entry.id)\nevent: town\ndata: \(entry.line)\n\n".utf8)
    }

    private func broadcast(_ bytes: [UInt8]) {
        for (key, stream) in streams where !stream.send(bytes) { streams[key] = nil }
    }

    private func readNew() {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return }
        let size = UInt64(info.st_size)
        var skipFirstLine = false
        if UInt64(info.st_ino) != inode || size < offset {
            // At start only the file's last 256 KiB are read (the backlog), from the first whole line there.
            let first = inode == 0
            inode = UInt64(info.st_ino)
            offset = first && size > 256 * 1024 ? size - 256 * 1024 : 0
            skipFirstLine = offset > 0
            partial = []
        }
        guard size > offset else { return }
        var buffer = [UInt8](repeating: 0, count: Int(min(size - offset, 4 * 1024 * 1024)))
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard count > 0 else { return }
        offset += UInt64(count)
        partial += buffer[0..<count]
        if skipFirstLine, let newline = partial.firstIndex(of: 0x0A) { partial.removeFirst(newline + 1) }
        guard let lastNewline = partial.lastIndex(of: 0x0A) else { return }
        let complete = partial[...lastNewline]
        partial = Array(partial[(lastNewline + 1)...])
        var out: [UInt8] = []
        for line in complete.split(separator: 0x0A) where !line.isEmpty {
            let text = String(decoding: line, as: UTF8.self)
            // Only JSON objects go out (a line cut by a crash is skipped); an SSE data line cannot hold a newline.
            guard text.first == "{", text.last == "}" else { continue }
            let entry = Entry(id: nextID, line: text)
            nextID += 1
            total += 1
            recent.append(entry)
            out += Self.frame(entry)
            for body in onLine { body(text) }
        }
        if recent.count > backlog { recent.removeFirst(recent.count - backlog) }
        if !out.isEmpty { broadcast(out) }
    }
}
