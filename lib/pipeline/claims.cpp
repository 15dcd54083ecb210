// What stages claim (option_claim, type_claim): two stages, or two copies of one, that would write
// one file or one standard output are refused before anything starts.
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pipeline/checker.hpp"

namespace sluice::pipeline::internal {

namespace {

/// How a claimed file path is compared: an existing file by device and inode (so hard links,
/// symlinks and /proc's links to open files, like /dev/stdout, are the same file); one that does
/// not exist yet by its absolute path, after following a symlink at its end (an output file is
/// often a dangling link's target) and resolving the symlinks of the directories that exist.
std::string file_identity(const std::string& path) {
  namespace fs = std::filesystem;
  struct ::stat st {};
  if (::stat(path.c_str(), &st) == 0) return "inode:" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  if (ec) return "path:" + path;
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
    const fs::path target = fs::read_symlink(p, ec);
    if (ec) break;
    p = target.is_absolute() ? target : p.parent_path() / target;
  }
  if (::stat(p.c_str(), &st) == 0) return "inode:" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  const fs::path canonical = fs::weakly_canonical(p, ec);
  return "path:" + (ec ? p.lexically_normal() : canonical).string();
}

/// One stage's claim on something: an option's value or its type's claim.
struct claim_use {
  const stage_spec* stage = nullptr;
  option_claim claim = option_claim::none;
  std::string key;       ///< what collides: "file:<identity>", or "<option>=<value>"
  std::string pointer;   ///< where a collision is reported: the option's value, or the stage's type
  std::string what;      ///< "\"path\" \"out.jsonl\"", "standard output"
  std::string value;     ///< as written: "\"out.jsonl\"", "standard output"
  std::string sharing;   ///< what the copies would share: "its \"path\" \"out.jsonl\"", "standard output"
  std::string one_per;   ///< "\"path\"", "standard output"
  bool from_option = true;
};

/// Every claim of `s`: its claimed options' values, then its type's claims.
std::vector<claim_use> claims_of(const stage_spec& s, const std::set<std::string>& file_options) {
  std::vector<claim_use> out;
  for (auto& o : s.type_info->options) {
    if (o.claim == option_claim::none || !s.options.contains(o.name)) continue;
    const json& value = s.options[o.name];
    const bool as_file = file_options.count(o.name) != 0 && value.is_string();
    out.push_back({&s, o.claim, as_file ? "file:" + file_identity(value.get<std::string>()) : o.name + "=" + value.dump(),
                   s.pointer + "/options/" + escape_pointer_segment(o.name), q(o.name) + " " + value.dump(), value.dump(),
                   "its " + q(o.name) + " " + value.dump(), q(o.name), true});
  }
  for (auto& c : s.type_info->claims) {
    if (c.claim == option_claim::none) continue;
    out.push_back({&s, c.claim, c.file ? "file:" + file_identity(c.value) : "claim:" + c.what + "=" + c.value,
                   s.pointer + "/type", c.what, c.what, c.what, c.what, false});
  }
  return out;
}

/// Reports `owner` (the exclusive claim) colliding with `other`.
void collision(checker& check, const claim_use& owner, const claim_use& other) {
  const bool as_written = owner.from_option == other.from_option && owner.value == other.value;
  const std::string problem = as_written ? owner.what + " is also used by stage " + q(other.stage->name)
                                         : owner.what + " names the same file as stage " + q(other.stage->name) + "'s " + other.value;
  const std::string expected = owner.from_option ? "a " + owner.one_per + " no other stage uses"
                                                 : "no other stage using " + owner.what;
  check.at_value(owner.pointer, problem, expected);
}

}  // namespace

void claim_checks(checker& check, const pipeline_spec& spec) {
  // Options claim together by name, so a name some stage type claims as a file is compared as
  // files for every type (a plugin's "path" against the file sink's).
  std::set<std::string> file_options;
  for (auto& s : spec.stages) {
    for (auto& o : s.type_info->options) {
      if (o.claim != option_claim::none && o.claims_file) file_options.insert(o.name);
    }
  }
  std::map<std::string, claim_use> first;  // key -> the first stage that claims it (or the exclusive one)
  for (auto& s : spec.stages) {
    for (claim_use& use : claims_of(s, file_options)) {
      const bool exclusive = use.claim == option_claim::exclusive;
      if (exclusive && s.concurrency > 1) {
        check.at_value(s.pointer + "/concurrency", "copies of " + q(s.name) + " would share " + use.sharing,
                       "concurrency 1: one instance per " + use.one_per);
      }
      const auto [it, fresh] = first.emplace(use.key, use);
      if (fresh || (!exclusive && it->second.claim != option_claim::exclusive)) continue;
      // Reported at the exclusive side, naming the other stage.
      if (exclusive) {
        collision(check, use, it->second);
        it->second = use;  // a later shared use collides with this one
      } else {
        collision(check, it->second, use);
      }
    }
  }
}

}  // namespace sluice::pipeline::internal
