import Base
import Daemon
import FoundationEssentials
import Renewal
import Testing

@Suite("daemon: backoff, incidents, env file, status, wake-ups")
struct DaemonUnitTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("backoff: a minute, doubling, capped at six hours; jitter stays within ±20 %")
    func backoffGrows() {
        let policy = BackoffPolicy()
        var state = RetryState()
        var delays: [Double] = []
        for _ in 0..<12 {
            state = policy.failed(state, reachedCA: false, error: "offline", now: t0, random: 0.5)
            delays.append(state.retryAt!.timeIntervalSince(t0))
        }
        #expect(Array(delays.prefix(4)) == [60, 120, 240, 480])
        #expect(abs(delays.last! - 6 * 3600) < 0.01)
        let low = policy.failed(RetryState(), reachedCA: false, error: "x", now: t0, random: 0).retryAt!.timeIntervalSince(t0)
        let high = policy.failed(RetryState(), reachedCA: false, error: "x", now: t0, random: 1).retryAt!.timeIntervalSince(t0)
        #expect(low == 48 && high == 72)
    }

    @Test("failed orders the CA saw: at most 3 per lineage per hour; an unreachable CA does not count")
    func caBudget() {
        var policy = BackoffPolicy()
        policy.base = 1
        var state = RetryState()
        var now = t0
        for _ in 0..<3 {
            state = policy.failed(state, reachedCA: true, error: "unauthorized", now: now, random: 0.5)
            now = state.retryAt!
        }
        #expect(state.retryAt! >= t0.addingTimeInterval(3600), "the fourth order must wait until the first leaves the hour")
        var offline = RetryState()
        now = t0
        for _ in 0..<5 {
            offline = policy.failed(offline, reachedCA: false, error: "offline", now: now, random: 0.5)
            now = offline.retryAt!
        }
        #expect(offline.retryAt! < t0.addingTimeInterval(60), "network failures back off by the doubling alone")
    }

    @Test("an incident alerts once, however often it is raised, and clears once")
    func incidents() {
        var book = IncidentBook()
        let incident = Incident(kind: .renewalFailing, lineage: "a", since: t0, message: "failed")
        let first = book.raise(incident)
        let again = book.raise(Incident(kind: .renewalFailing, lineage: "a", since: t0 + 60, message: "failed again"))
        let other = book.raise(Incident(kind: .renewalFailing, lineage: "b", since: t0, message: "other lineage"))
        #expect(first && !again && other)
        let cleared = book.clear(.renewalFailing, lineage: "a")
        let twice = book.clear(.renewalFailing, lineage: "a")
        #expect(cleared?.message == "failed" && twice == nil)
        #expect(book.all.map(\.lineage) == ["b"])
    }

    @Test("env file: KEY=VALUE, comments, export, quotes; a line without = or a bad name is refused with its number")
    func envFile() throws {
        let values = try EnvFile.parse("# comment\n\nSSL_TYPE=letsencrypt\nexport OVERRIDE_HOSTNAME=\"mail.example.com\"\nEMPTY=\nQ='a b'\n", path: "f")
        #expect(values == ["SSL_TYPE": "letsencrypt", "OVERRIDE_HOSTNAME": "mail.example.com", "EMPTY": "", "Q": "a b"])
        #expect(throws: DaemonError.self) { try EnvFile.parse("A=1\nnot a line\n", path: "f") }
        do { _ = try EnvFile.parse("A=1\n1BAD=2\n", path: "env") } catch let error as DaemonError {
            #expect(error.message.contains("env line 2") && error.category == .usage, "\(error)")
        }
    }

    @Test("status: healthy when fresh and clean; stale, open incidents and expired certificates make it unhealthy")
    func health() {
        var status = DaemonStatus(pid: 42, started: t0, heartbeatSeconds: 900)
        status.updated = t0
        #expect(status.problems(now: t0 + 60) == ["no certificate: no lineage to renew and nothing installed yet"])
        status.lineages = [.init(name: "m", names: ["m"], notBefore: t0 - 100, notAfter: t0 + 10_000, nextAction: .renew, failures: 0)]
        #expect(status.problems(now: t0 + 60).isEmpty)
        #expect(status.problems(now: t0 + 3 * 900 + 61).first?.contains("has not updated its status") == true)
        _ = status.incidents.raise(Incident(kind: .rolledBack, lineage: nil, since: t0, message: "put back"))
        #expect(status.problems(now: t0 + 1) == ["rolled-back: put back"])
        status.incidents = IncidentBook()
        status.lineages = [.init(name: "m", names: ["m"], notBefore: t0 - 100, notAfter: t0 - 1, nextAction: .renew, failures: 0)]
        #expect(status.problems(now: t0).first?.contains("m: the certificate expired") == true)
        #expect(status.text(now: t0).contains("UNHEALTHY"))
    }

    @Test("wake-ups: the timer fires at its time; a posted signal ends the sleep at once")
    func wakeUps() async {
        let wakeUps = WakeUps(signals: false)
        let start = ContinuousClock.now
        #expect(await wakeUps.next(until: Date().addingTimeInterval(0.05)) == .timer)
        #expect(ContinuousClock.now - start >= .milliseconds(45))
        wakeUps.post(.reload)
        // The posted reload, not the 60-s timer, ends this wait.
        #expect(await wakeUps.next(until: Date().addingTimeInterval(60)) == .reload)
    }

    @Test("renewal conf changes that force a renewal: other names, another profile; certbot's confs force nothing")
    func forcedByConf() {
        let names = ["mail.example.com"]
        #expect(DuePolicy.changeForcingRenewal(names: "mail.example.com, imap.example.com,", issuedProfile: nil, requiredProfile: nil,
                                               preferredProfile: nil, certificateNames: names) == .namesChanged)
        #expect(DuePolicy.changeForcingRenewal(names: "MAIL.example.com,", issuedProfile: "default", requiredProfile: nil,
                                               preferredProfile: nil, certificateNames: names) == nil)
        #expect(DuePolicy.changeForcingRenewal(names: nil, issuedProfile: "classic", requiredProfile: nil,
                                               preferredProfile: "shortlived", certificateNames: names) == .profileChanged(from: "classic", to: "shortlived"))
        #expect(DuePolicy.changeForcingRenewal(names: nil, issuedProfile: nil, requiredProfile: "shortlived",
                                               preferredProfile: nil, certificateNames: names) == nil)
    }
}
