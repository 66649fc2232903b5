import Base
import Testing

@Suite("setting names: libraries name settings, the CLI adds the flag")
struct SettingNameTests {
    @Test("no setting names a flag, and none is part of another (the CLI finds each in a message unambiguously)")
    func distinct() {
        for setting in SettingName.all {
            #expect(!setting.description.contains("--"), "\(setting) names a flag")
            for other in SettingName.all where other != setting {
                #expect(!setting.description.contains(other.description), "\(setting) contains \(other)")
            }
        }
        #expect(Set(SettingName.all).count == SettingName.all.count)
    }
}
