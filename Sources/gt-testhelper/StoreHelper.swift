// gt-testhelper: child processes for multi-process tests of LedgerStore (lock contention, kill -9 during appends).
// Usage:
//   gt-testhelper hold <dir>                 open the store, print "locked <pid>", hold it until stdin closes
//   gt-testhelper open <dir> <waitMillis>    try to open; print "opened" or "error: <message>"; exit 0 or 3
//   gt-testhelper append-loop <dir> <tag>    append "<tag>-<n>" forever, printing each name after its append returned
//   gt-testhelper append-tasks <dir> <tag>   the same from 4 concurrent tasks (group commit), "<tag>-<task>-<n>"
import Foundation
import LedgerStore

func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func runStoreHelper(_ arguments: [String]) async {
    guard arguments.count >= 3 else {
        FileHandle.standardError.write(Data("usage: gt-testhelper hold|open|append-loop <dir> [arg]\n".utf8))
        exit(2)
    }
    let layout = StoreLayout(directory: arguments[2])
    var settings = StoreSettings()
    settings.lockWaitTimeout = .zero
    settings.snapshotEveryRecords = 50
    settings.segmentBytes = 2_048

    switch arguments[1] {
    case "hold":
        do {
            let store = try DurableStore<OpaqueRecordLog>.openBlocking(layout, settings: settings)
            say("locked \(getpid())")
            _ = FileHandle.standardInput.readDataToEndOfFile()
            store.close()
        } catch {
            say("error: \(error)")
            exit(3)
        }
    case "open":
        settings.lockWaitTimeout = .milliseconds(Int(arguments.count > 3 ? arguments[3] : "0") ?? 0)
        do {
            let store = try DurableStore<OpaqueRecordLog>.openBlocking(layout, settings: settings)
            say("opened \(store.read { $0.records.count })")
            store.close()
        } catch {
            say("error: \(error)")
            exit(3)
        }
    case "append-loop":
        let tag = arguments.count > 3 ? arguments[3] : "r"
        do {
            let store = try DurableStore<OpaqueRecordLog>.openBlocking(layout, settings: settings)
            var number = 0
            while true {
                let name = "\(tag)-\(number)"
                _ = try store.appendSync(Data(name.utf8))
                say(name)
                number += 1
            }
        } catch {
            say("error: \(error)")
            exit(3)
        }
    case "append-tasks":
        let tag = arguments.count > 3 ? arguments[3] : "r"
        do {
            let store = try await DurableStore<OpaqueRecordLog>.open(layout, settings: settings)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<4 {
                    group.addTask {
                        var number = 0
                        while true {
                            let name = "\(tag)-\(task)-\(number)"
                            _ = try await store.append(Data(name.utf8))
                            say(name)
                            number += 1
                        }
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            say("error: \(error)")
            exit(3)
        }
    default:
        FileHandle.standardError.write(Data("unknown command \(arguments[1])\n".utf8))
        exit(2)
    }
}
