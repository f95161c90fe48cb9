import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A headless Chromium (Debian's `chromium`) driven over the DevTools protocol for browser tests: the browser is
/// started with `--remote-debugging-pipe`, so it reads commands from its fd 3 and writes replies and events to its
/// fd 4, each message JSON ended by a NUL byte. No port, no WebSocket, nothing another process on the machine can
/// reach.
///
/// The reply pipe is read on a dedicated thread (a blocking `read`, never on the cooperative pool); commands are
/// written from a serial dispatch queue. Each command waits for its reply with a time limit. The browser leads its own
/// process group (its zygote, renderer and GPU processes join it): `close()` kills that group by its id, reaps the
/// browser and removes the temporary profile; call it in every path (`HeadlessChromium.with` does).
///
/// `@unchecked Sendable`: the mutable state (pending replies, collected events, the closed flag) is guarded by
/// `lock`; the rest is immutable after `launch`.
public final class HeadlessChromium: @unchecked Sendable {
    /// Why the browser could not be used.
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// A DevTools message (a decoded JSON object). `@unchecked Sendable`: JSON values, never mutated once decoded.
    public struct Message: @unchecked Sendable {
        public let object: [String: Any]
        public var method: String? { object["method"] as? String }
        public var params: [String: Any] { object["params"] as? [String: Any] ?? [:] }
        public var sessionID: String? { object["sessionId"] as? String }
    }

    /// Where the browser is: `$GT_CHROMIUM` if set, else the first of Debian's and other distributions' names that
    /// exists; nil when none is installed.
    public static func executable() -> String? {
        if let path = ProcessInfo.processInfo.environment["GT_CHROMIUM"], !path.isEmpty {
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }
        return ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    public let pid: pid_t
    /// The temporary profile directory (removed by `close`).
    public let profile: String
    let commandFD: Int32
    let replyFD: Int32
    let writer = DispatchQueue(label: "gt-chromium-writer")
    let lock = NSLock()
    var nextID = 1
    var pending: [Int: CheckedContinuation<Message, any Error>] = [:]
    var events: [Message] = []
    var closed = false
    var exited = false
    var reaped: [CheckedContinuation<Void, Never>] = []
    /// How long a command may wait for its reply.
    public var commandTimeout: Duration = .seconds(20)

    init(pid: pid_t, profile: String, commandFD: Int32, replyFD: Int32) {
        self.pid = pid
        self.profile = profile
        self.commandFD = commandFD
        self.replyFD = replyFD
    }

    /// Starts a headless browser with a fresh profile and a `width`×`height` window.
    public static func launch(
        executable path: String, width: Int = 1280, height: Int = 860
    ) throws
        -> HeadlessChromium
    {
        let profile = NSTemporaryDirectory() + "gt-chromium-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: profile, withIntermediateDirectories: true)
        var commands: [Int32] = [0, 0]
        var replies: [Int32] = [0, 0]
        guard pipe(&commands) == 0, pipe(&replies) == 0 else {
            try? FileManager.default.removeItem(atPath: profile)
            throw Failure("pipe: \(String(cString: strerror(errno)))")
        }
        // Every end above fd 10 and close-on-exec, so the child's dup2 onto 3 and 4 never collides with them.
        func high(_ fd: Int32) -> Int32 {
            let moved = fcntl(fd, F_DUPFD_CLOEXEC, 10)
            Glibc.close(fd)
            return moved
        }
        let (childReads, parentWrites) = (high(commands[0]), high(commands[1]))
        let (parentReads, childWrites) = (high(replies[0]), high(replies[1]))
        let arguments = [
            "--headless=new", "--no-sandbox", "--remote-debugging-pipe", "--user-data-dir=\(profile)",
            "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--mute-audio", "--hide-scrollbars", "--window-size=\(width),\(height)",
            "about:blank",
        ]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { Glibc.close(null) }
        posix_spawn_file_actions_adddup2(&actions, null, 0)
        posix_spawn_file_actions_adddup2(&actions, null, 1)
        posix_spawn_file_actions_adddup2(&actions, null, 2)
        posix_spawn_file_actions_adddup2(&actions, childReads, 3)
        posix_spawn_file_actions_adddup2(&actions, childWrites, 4)
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap {
            Int32($0)
        }
        for descriptor in descriptors ?? Array(5..<256) where descriptor > 4 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = profile
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        Glibc.close(childReads)
        Glibc.close(childWrites)
        guard result == 0 else {
            Glibc.close(parentReads)
            Glibc.close(parentWrites)
            try? FileManager.default.removeItem(atPath: profile)
            throw Failure("could not start \(path): \(String(cString: strerror(result)))")
        }
        let browser = HeadlessChromium(pid: pid, profile: profile, commandFD: parentWrites, replyFD: parentReads)
        browser.startReading()
        browser.startReaping()
        return browser
    }

    /// Launches a browser, runs `body` with it and closes it whatever happens.
    public static func with<T>(
        executable path: String, _ body: (HeadlessChromium) async throws -> T
    ) async throws
        -> T
    {
        let browser = try launch(executable: path)
        do {
            let value = try await body(browser)
            await browser.close()
            return value
        } catch {
            await browser.close()
            throw error
        }
    }

    func startReading() {
        let thread = Thread { [self] in
            var buffer: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(replyFD, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                buffer += chunk[0..<count]
                while let end = buffer.firstIndex(of: 0) {
                    let bytes = Data(buffer[..<end])
                    buffer.removeSubrange(...end)
                    if let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any] {
                        deliver(Message(object: object))
                    }
                }
            }
            Glibc.close(replyFD)
            failAll(Failure("the browser closed its DevTools pipe (it exited or crashed)"))
        }
        thread.name = "gt-chromium-reader"
        thread.start()
    }

    func startReaping() {
        let thread = Thread { [self] in
            // Once it exited its pid is held (a zombie) until reaped: kill what is left of its group first, so the
            // group id cannot have been reused by then.
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            lock.lock()
            exited = true
            let waiting = reaped
            reaped = []
            lock.unlock()
            for continuation in waiting { continuation.resume() }
        }
        thread.name = "gt-chromium-reaper"
        thread.stackSize = 64 * 1024
        thread.start()
    }

    func deliver(_ message: Message) {
        lock.lock()
        if let id = message.object["id"] as? Int {
            let continuation = pending.removeValue(forKey: id)
            lock.unlock()
            continuation?.resume(returning: message)
        } else {
            events.append(message)
            lock.unlock()
        }
    }

    func failAll(_ error: Failure) {
        lock.lock()
        let waiting = pending
        pending = [:]
        closed = true
        lock.unlock()
        for continuation in waiting.values { continuation.resume(throwing: error) }
    }

    /// Sends `method` with `params` (to the page `session` when given) and returns the reply's `result`; throws the
    /// protocol's error, or when no reply came within `commandTimeout`.
    @discardableResult
    public func send(
        _ method: String, _ params: [String: Any] = [:], session: String? = nil
    ) async throws
        -> [String: Any]
    {
        let (id, isClosed) = lock.withLock { () -> (Int, Bool) in
            nextID += 1
            return (nextID - 1, closed)
        }
        if isClosed { throw Failure("\(method): the browser is closed") }
        var object: [String: Any] = ["id": id, "method": method, "params": params]
        if let session { object["sessionId"] = session }
        var bytes = try JSONSerialization.data(withJSONObject: object)
        bytes.append(0)
        let frame = bytes
        let timeout = commandTimeout
        let timer = Task { [self] in
            try await Task.sleep(for: timeout)
            let continuation = lock.withLock { pending.removeValue(forKey: id) }
            continuation?.resume(throwing: Failure("\(method): no reply from the browser within \(timeout)"))
        }
        defer { timer.cancel() }
        let reply = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<Message, any Error>) in
            lock.withLock { pending[id] = continuation }
            writer.async { [self] in
                let written = frame.withUnsafeBytes { raw -> Bool in
                    var offset = 0
                    while offset < raw.count {
                        let count = write(commandFD, raw.baseAddress! + offset, raw.count - offset)
                        if count < 0 && errno == EINTR { continue }
                        if count <= 0 { return false }
                        offset += count
                    }
                    return true
                }
                if !written {
                    let continuation = lock.withLock { pending.removeValue(forKey: id) }
                    continuation?.resume(throwing: Failure("\(method): could not write to the browser's pipe"))
                }
            }
        }
        if let error = reply.object["error"] as? [String: Any] {
            throw Failure("\(method): \(error["message"] as? String ?? "\(error)")")
        }
        return reply.object["result"] as? [String: Any] ?? [:]
    }

    /// The events received so far for `session` (all when nil).
    public func receivedEvents(session: String? = nil) -> [Message] {
        lock.withLock { session.map { id in events.filter { $0.sessionID == id } } ?? events }
    }

    /// Opens a new page (tab) attached in flat mode, with the Page, Runtime and Log domains on, so its console
    /// messages, uncaught exceptions and log entries are collected.
    public func newPage() async throws -> BrowserPage {
        let created = try await send("Target.createTarget", ["url": "about:blank"])
        guard let target = created["targetId"] as? String else { throw Failure("Target.createTarget: no targetId") }
        let attached = try await send("Target.attachToTarget", ["targetId": target, "flatten": true])
        guard let session = attached["sessionId"] as? String else { throw Failure("attachToTarget: no sessionId") }
        let page = BrowserPage(browser: self, session: session)
        try await send("Page.enable", session: session)
        try await send("Runtime.enable", session: session)
        try await send("Log.enable", session: session)
        return page
    }

    /// Kills the browser's process group (by its id), waits until the browser is reaped, and removes the profile.
    public func close() async {
        lock.withLock { closed = true }
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = lock.withLock { () -> Bool in
                if !exited { reaped.append(continuation) }
                return exited
            }
            if done { continuation.resume() }
        }
        Glibc.close(commandFD)
        try? FileManager.default.removeItem(atPath: profile)
    }
}

/// One page (tab) of a `HeadlessChromium`, addressed by its flat session id. `Sendable`: immutable.
public struct BrowserPage: Sendable {
    public let browser: HeadlessChromium
    public let session: String

    /// Loads `url` and waits until its document is complete.
    public func navigate(_ url: String, timeout: Duration = .seconds(20)) async throws {
        let result = try await browser.send("Page.navigate", ["url": url], session: session)
        if let error = result["errorText"] as? String, !error.isEmpty {
            throw HeadlessChromium.Failure("Page.navigate \(url): \(error)")
        }
        let loaded = try await waitFor(
            "document.readyState === 'complete' && location.href === \(Self.quote(url))", timeout: timeout)
        guard loaded else { throw HeadlessChromium.Failure("\(url) did not finish loading within \(timeout)") }
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value as JSON decodes it.
    public func evaluate(_ expression: String) async throws -> Any? {
        let result = try await browser.send(
            "Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true],
            session: session)
        if let exception = result["exceptionDetails"] as? [String: Any] {
            let text = (exception["exception"] as? [String: Any])?["description"] as? String
            throw HeadlessChromium.Failure("evaluating \(expression): \(text ?? exception["text"] as? String ?? "")")
        }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// The text of the first element matching `selector` ("" when there is none).
    public func text(_ selector: String = "body") async throws -> String {
        try await evaluate("(document.querySelector(\(Self.quote(selector))) || {innerText: ''}).innerText") as? String
            ?? ""
    }

    /// Polls the JavaScript `condition` every 100 ms until it is true or `timeout` passes; returns whether it held.
    public func waitFor(_ condition: String, timeout: Duration = .seconds(15)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            // Between documents an evaluation can fail (its context went away): try again.
            if (try? await evaluate("Boolean(\(condition))")) as? Bool == true { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// A PNG of the whole page (beyond the window when the page is longer).
    public func screenshot() async throws -> Data {
        let result = try await browser.send(
            "Page.captureScreenshot", ["format": "png", "captureBeyondViewport": true], session: session)
        guard let base64 = result["data"] as? String, let data = Data(base64Encoded: base64) else {
            throw HeadlessChromium.Failure("Page.captureScreenshot returned no image")
        }
        return data
    }

    /// The console errors, uncaught exceptions and error log entries (failed loads, CSP) this page produced.
    public func consoleErrors() -> [String] {
        browser.receivedEvents(session: session).compactMap { event -> String? in
            let params = event.params
            switch event.method {
            case "Runtime.consoleAPICalled":
                guard let type = params["type"] as? String, type == "error" || type == "assert" else { return nil }
                let arguments = (params["args"] as? [[String: Any]] ?? []).map {
                    ($0["value"].map { "\($0)" }) ?? ($0["description"] as? String ?? "")
                }
                return "console.\(type): " + arguments.joined(separator: " ")
            case "Runtime.exceptionThrown":
                let details = params["exceptionDetails"] as? [String: Any] ?? [:]
                let description = (details["exception"] as? [String: Any])?["description"] as? String
                return "uncaught: " + (description ?? details["text"] as? String ?? "\(details)")
            case "Log.entryAdded":
                let entry = params["entry"] as? [String: Any] ?? [:]
                guard entry["level"] as? String == "error" else { return nil }
                return "log: \(entry["text"] as? String ?? "") \(entry["url"] as? String ?? "")"
            default:
                return nil
            }
        }
    }

    static func quote(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}
