// Model sources without a network: URI parsing, the Hub cache layout, settings from the
// environment, file selection, Hub JSON and header parsing, local folders and their errors.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "runtime/model/hf_hub.h"
#include "runtime/model/hf_snapshot.h"
#include "runtime/model/hub_cache.h"
#include "runtime/model/hub_settings.h"
#include "runtime/model/sha256.h"
#include "runtime/model/source.h"

namespace mixserve::model {
namespace {
namespace fs = std::filesystem;

// A fresh folder under the test's temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::path(::testing::TempDir()) / "source_test.XXXXXX").lexically_normal().string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ParseModelSourceTest, HubRepoWithAndWithoutRevision) {
  auto plain = ParseModelSource("hf://mistralai/Mixtral-8x7B-v0.1");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ(plain->kind, ModelSource::Kind::kHub);
  EXPECT_EQ(plain->repo.id, "mistralai/Mixtral-8x7B-v0.1");
  EXPECT_EQ(plain->repo.revision, "main");
  EXPECT_EQ(plain->repo.Display(), "hf://mistralai/Mixtral-8x7B-v0.1");

  auto pinned = ParseModelSource("hf://org/name@v1.0");
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->repo.id, "org/name");
  EXPECT_EQ(pinned->repo.revision, "v1.0");
  EXPECT_EQ(pinned->repo.Display(), "hf://org/name@v1.0");

  auto pr = ParseModelSource("hf://org/name@refs/pr/3");
  ASSERT_TRUE(pr.ok());
  EXPECT_EQ(pr->repo.revision, "refs/pr/3");
}

TEST(ParseModelSourceTest, BadHubUrisNameTheUri) {
  for (const char* uri : {"hf://org", "hf://org/name/extra", "hf://", "hf:///name", "hf://org/na--me", "hf://org/name@",
                          "hf://org/name@../../etc", "hf://org/.name", "hf://org/name@a//b"}) {
    auto parsed = ParseModelSource(uri);
    ASSERT_FALSE(parsed.ok()) << uri;
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument) << uri;
    EXPECT_NE(parsed.status().message().find(uri), std::string::npos) << parsed.status().message();
  }
}

TEST(ParseModelSourceTest, UnknownSchemesAreErrorsNamingTheScheme) {
  for (auto [uri, scheme] : std::map<std::string, std::string>{{"pvc://models/x", "'pvc'"}, {"s3://bucket/m", "'s3'"},
                                                               {"HTTPS://host/m", "'https'"}}) {
    auto parsed = ParseModelSource(uri);
    ASSERT_FALSE(parsed.ok()) << uri;
    EXPECT_NE(parsed.status().message().find("unsupported scheme " + scheme), std::string::npos)
        << parsed.status().message();
  }
  EXPECT_FALSE(ParseModelSource("").ok());
}

TEST(ParseModelSourceTest, LocalPathsAndFileUris) {
  auto absolute = ParseModelSource("/models/mixtral");
  ASSERT_TRUE(absolute.ok());
  EXPECT_EQ(absolute->kind, ModelSource::Kind::kLocalDir);
  EXPECT_EQ(absolute->path, "/models/mixtral");
  EXPECT_EQ(ParseModelSource("./rel/dir")->path, "./rel/dir");
  EXPECT_EQ(ParseModelSource("file:///models/my%20model")->path, "/models/my model");
  EXPECT_EQ(ParseModelSource("file://localhost/models/x")->path, "/models/x");
  EXPECT_FALSE(ParseModelSource("file://otherhost/models/x").ok());
  EXPECT_FALSE(ParseModelSource("file://relative").ok());
}

TEST(HubCacheTest, LayoutMatchesHuggingFaceHub) {
  HubCache cache("/cache/hub", "org/name");
  EXPECT_EQ(RepoFolderName("org/name"), "models--org--name");
  EXPECT_EQ(cache.RepoDir(), "/cache/hub/models--org--name");
  EXPECT_EQ(cache.BlobPath("abc"), "/cache/hub/models--org--name/blobs/abc");
  EXPECT_EQ(cache.IncompletePath("abc"), "/cache/hub/models--org--name/blobs/abc.incomplete");
  EXPECT_EQ(cache.LockPath("abc"), "/cache/hub/.locks/models--org--name/abc.lock");
  EXPECT_EQ(cache.SnapshotPath("c0ffee", "config.json"), "/cache/hub/models--org--name/snapshots/c0ffee/config.json");
  EXPECT_EQ(cache.RefPath("main"), "/cache/hub/models--org--name/refs/main");
  EXPECT_EQ(HubCache::LinkTarget("config.json", "abc"), "../../blobs/abc");
  EXPECT_EQ(HubCache::LinkTarget("original/params.json", "abc"), "../../../blobs/abc");
}

TEST(HubCacheTest, SafeRepoPaths) {
  for (const char* good : {"config.json", "original/params.json", "a/b/c.safetensors", "refs/pr/1", "v1.0"}) {
    EXPECT_TRUE(IsSafeRepoPath(good)) << good;
  }
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/", "./x", ".."}) {
    EXPECT_FALSE(IsSafeRepoPath(bad)) << bad;
  }
}

TEST(HubCacheTest, RefsBlobsAndSnapshotLinksOnDisk) {
  TempDir tmp;
  HubCache cache(tmp.path(), "org/name");
  auto missing = cache.ReadRef("main");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  ASSERT_TRUE(cache.WriteRef("refs/pr/1", "1111111111111111111111111111111111111111").ok());
  auto ref = cache.ReadRef("refs/pr/1");
  ASSERT_TRUE(ref.ok() && ref->has_value());
  EXPECT_EQ(**ref, "1111111111111111111111111111111111111111");

  WriteFile(cache.IncompletePath("e1"), "hello");
  EXPECT_FALSE(cache.HasBlob("e1", std::nullopt));
  ASSERT_TRUE(cache.PublishBlob("e1").ok());
  EXPECT_FALSE(fs::exists(cache.IncompletePath("e1")));
  EXPECT_TRUE(cache.HasBlob("e1", 5));
  EXPECT_FALSE(cache.HasBlob("e1", 6));

  ASSERT_TRUE(cache.LinkIntoSnapshot("c0", "sub/dir/file.txt", "e1").ok());
  std::string link = cache.SnapshotPath("c0", "sub/dir/file.txt");
  ASSERT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link).string(), "../../../../blobs/e1");
  EXPECT_TRUE(fs::equivalent(link, cache.BlobPath("e1")));
  // Relinking replaces the entry in place.
  WriteFile(cache.BlobPath("e2"), "other");
  ASSERT_TRUE(cache.LinkIntoSnapshot("c0", "sub/dir/file.txt", "e2").ok());
  EXPECT_TRUE(fs::equivalent(link, cache.BlobPath("e2")));
  EXPECT_EQ(std::distance(fs::directory_iterator(fs::path(link).parent_path()), fs::directory_iterator()), 1);
}

TEST(HubCacheTest, BlobLockIsExclusiveUntilReleased) {
  TempDir tmp;
  std::string path = HubCache(tmp.path(), "org/name").LockPath("e1");
  auto first = FileLock::Acquire(path);
  ASSERT_TRUE(first.ok()) << first.status().message();
  std::atomic<bool> second_has_it{false};
  std::thread waiter([&] {
    auto second = FileLock::Acquire(path);
    second_has_it = second.ok();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(second_has_it);
  { FileLock released = std::move(*first); }
  waiter.join();
  EXPECT_TRUE(second_has_it);
}

TEST(HubSettingsTest, DefaultsFollowHomeXdgAndHfHome) {
  auto home = HubSettingsFromEnvironment(MapEnv({{"HOME", "/home/u"}}));
  ASSERT_TRUE(home.ok());
  EXPECT_EQ(home->endpoint, "https://huggingface.co");
  EXPECT_EQ(home->cache_dir, "/home/u/.cache/huggingface/hub");
  EXPECT_EQ(home->token_file, "/home/u/.cache/huggingface/token");
  EXPECT_TRUE(home->token.empty());
  EXPECT_FALSE(home->offline);

  auto xdg = HubSettingsFromEnvironment(MapEnv({{"HOME", "/home/u"}, {"XDG_CACHE_HOME", "/xdg"}}));
  EXPECT_EQ(xdg->cache_dir, "/xdg/huggingface/hub");

  auto hf_home = HubSettingsFromEnvironment(MapEnv({{"HOME", "/home/u"}, {"HF_HOME", "~/hf"}}));
  EXPECT_EQ(hf_home->cache_dir, "/home/u/hf/hub");
  EXPECT_EQ(hf_home->token_file, "/home/u/hf/token");

  auto explicit_cache = HubSettingsFromEnvironment(MapEnv({{"HF_HOME", "/hf"}, {"HF_HUB_CACHE", "/big/hub"},
                                                           {"HF_ENDPOINT", "http://127.0.0.1:9/"}, {"HF_HUB_OFFLINE", "yes"}}));
  EXPECT_EQ(explicit_cache->cache_dir, "/big/hub");
  EXPECT_EQ(explicit_cache->endpoint, "http://127.0.0.1:9");
  EXPECT_TRUE(explicit_cache->offline);

  EXPECT_FALSE(HubSettingsFromEnvironment(MapEnv({{"HF_HUB_OFFLINE", "0"}, {"HF_HOME", "/hf"}}))->offline);
  EXPECT_FALSE(HubSettingsFromEnvironment(MapEnv({})).ok());
}

TEST(HubSettingsTest, TokenFromEnvironmentBeatsTokenFile) {
  TempDir tmp;
  WriteFile(tmp.path() + "/token", "  hf_from_file\n");
  auto from_file = HubSettingsFromEnvironment(MapEnv({{"HF_HOME", tmp.path()}}));
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(from_file->token, "hf_from_file");
  EXPECT_EQ(from_file->token_origin, tmp.path() + "/token");

  auto from_env = HubSettingsFromEnvironment(MapEnv({{"HF_HOME", tmp.path()}, {"HF_TOKEN", "hf_from_env"}}));
  EXPECT_EQ(from_env->token, "hf_from_env");
  EXPECT_EQ(from_env->token_origin, "HF_TOKEN");

  WriteFile(tmp.path() + "/elsewhere", "hf_elsewhere");
  auto token_path = HubSettingsFromEnvironment(MapEnv({{"HF_HOME", "/nowhere"}, {"HF_TOKEN_PATH", tmp.path() + "/elsewhere"}}));
  EXPECT_EQ(token_path->token, "hf_elsewhere");
}

TEST(HubApiTest, EtagsLoseQuotesAndWeakPrefix) {
  EXPECT_EQ(NormalizeEtag("\"abc\""), "abc");
  EXPECT_EQ(NormalizeEtag("W/\"abc\""), "abc");
  EXPECT_EQ(NormalizeEtag("abc"), "abc");
  EXPECT_EQ(NormalizeEtag(""), "");
}

TEST(HubApiTest, RevisionInfoWithBlobs) {
  const std::string sha256(64, 'a');
  std::string json = R"({"id":"org/name","sha":"0123456789abcdef0123456789abcdef01234567","siblings":[
      {"rfilename":"config.json","blobId":"1234abcd","size":42},
      {"rfilename":"model.safetensors","blobId":"9999","size":7,"lfs":{"sha256":")" + sha256 + R"(","size":3000000,"pointerSize":134}},
      {"rfilename":"README.md"}]})";
  auto info = ParseRevisionInfo(json, "test");
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->commit, "0123456789abcdef0123456789abcdef01234567");
  ASSERT_EQ(info->files.size(), 3u);
  EXPECT_EQ(info->files[0].etag, "1234abcd");
  EXPECT_EQ(info->files[0].size, 42u);
  EXPECT_FALSE(info->files[0].lfs);
  EXPECT_EQ(info->files[1].etag, sha256);
  EXPECT_EQ(info->files[1].size, 3000000u);
  EXPECT_TRUE(info->files[1].lfs);
  EXPECT_TRUE(info->files[2].etag.empty());
  EXPECT_FALSE(info->files[2].size.has_value());

  EXPECT_FALSE(ParseRevisionInfo("not json", "test").ok());
  EXPECT_FALSE(ParseRevisionInfo(R"({"sha":"main","siblings":[]})", "test").ok());
  EXPECT_FALSE(ParseRevisionInfo(R"({"sha":"0123456789abcdef0123456789abcdef01234567"})", "test").ok());
  EXPECT_TRUE(LooksLikeCommitHash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(LooksLikeCommitHash("main"));
}

TEST(FileSelectionTest, DefaultsTakeServingFilesOnly) {
  for (const char* wanted : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                             "tokenizer.model", "model.safetensors.index.json", "chat_template.jinja"}) {
    EXPECT_TRUE(IsDefaultSupportFile(wanted)) << wanted;
  }
  for (const char* unwanted : {"README.md", "pytorch_model.bin", "original/params.json", "sub/config.json"}) {
    EXPECT_FALSE(IsDefaultSupportFile(unwanted)) << unwanted;
  }
  EXPECT_TRUE(IsDefaultWeightFile("model-00001-of-00019.safetensors"));
  EXPECT_TRUE(IsDefaultWeightFile("model.safetensors"));
  EXPECT_FALSE(IsDefaultWeightFile("consolidated.safetensors"));
  EXPECT_FALSE(IsDefaultWeightFile("original/model.safetensors"));
  EXPECT_FALSE(IsDefaultWeightFile("model.gguf"));
  EXPECT_FALSE(IsDefaultWeightFile("consolidated.00.pt"));
}

TEST(FileSelectionTest, GlobsStayWithinOneFolder) {
  EXPECT_TRUE(MatchesAnyGlob("config.json", {"*.json"}));
  EXPECT_FALSE(MatchesAnyGlob("original/params.json", {"*.json"}));
  EXPECT_TRUE(MatchesAnyGlob("original/params.json", {"*.txt", "original/*"}));
  EXPECT_FALSE(MatchesAnyGlob("config.json", {}));
}

TEST(FileSelectionTest, ShardsComeFromTheIndexWeightMap) {
  auto shards = ShardsNamedByIndex(R"({"metadata":{"total_size":1},"weight_map":{
      "a.weight":"model-00002-of-00002.safetensors","b.weight":"model-00001-of-00002.safetensors",
      "c.weight":"model-00001-of-00002.safetensors"}})", "index");
  ASSERT_TRUE(shards.ok()) << shards.status().message();
  EXPECT_EQ(*shards, (std::vector<std::string>{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}));
  EXPECT_FALSE(ShardsNamedByIndex(R"({"metadata":{}})", "index").ok());
  EXPECT_FALSE(ShardsNamedByIndex(R"({"weight_map":{"a":"../../etc/passwd"}})", "index").ok());
}

TEST(Sha256Test, KnownDigestsAndFiles) {
  Sha256 hash;
  hash.Update("ab");
  hash.Update("c");
  EXPECT_EQ(hash.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  TempDir tmp;
  WriteFile(tmp.path() + "/empty", "");
  EXPECT_EQ(*Sha256OfFile(tmp.path() + "/empty"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_FALSE(Sha256OfFile(tmp.path() + "/missing").ok());
  EXPECT_TRUE(LooksLikeSha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  EXPECT_FALSE(LooksLikeSha256("1234abcd"));
}

TEST(ResolveLocalDirTest, FindsModelFoldersAndNamesWhatIsMissing) {
  TempDir tmp;
  WriteFile(tmp.path() + "/model/config.json", "{}");
  auto found = ResolveLocalDir(tmp.path() + "/model/");
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(*found, tmp.path() + "/model");

  auto missing = ResolveLocalDir(tmp.path() + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find(tmp.path() + "/nope does not exist"), std::string::npos);

  fs::create_directories(tmp.path() + "/empty");
  auto no_config = ResolveLocalDir(tmp.path() + "/empty");
  ASSERT_FALSE(no_config.ok());
  EXPECT_NE(no_config.status().message().find(tmp.path() + "/empty/config.json: not found"), std::string::npos);

  auto file = ResolveLocalDir(tmp.path() + "/model/config.json");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("is not a folder"), std::string::npos);

  auto looks_like_hub = ResolveLocalDir("no-such-org/no-such-model");
  ASSERT_FALSE(looks_like_hub.ok());
  EXPECT_NE(looks_like_hub.status().message().find("hf://no-such-org/no-such-model"), std::string::npos);
}

TEST(ResolveModelTest, LocalSourcesAndOfflineMisses) {
  TempDir tmp;
  WriteFile(tmp.path() + "/m/config.json", "{}");
  SourceOptions options;
  options.env = MapEnv({{"HF_HUB_CACHE", tmp.path() + "/hub"}, {"HF_HUB_OFFLINE", "1"}});
  options.log = nullptr;
  auto via_file_uri = ResolveModel("file://" + tmp.path() + "/m", options);
  ASSERT_TRUE(via_file_uri.ok()) << via_file_uri.status().message();
  EXPECT_EQ(*via_file_uri, tmp.path() + "/m");

  auto scheme = ResolveModel("pvc://claim/m", options);
  ASSERT_FALSE(scheme.ok());
  EXPECT_NE(scheme.status().message().find("'pvc'"), std::string::npos);

  auto offline = ResolveModel("hf://org/name", options);
  ASSERT_FALSE(offline.ok());
  EXPECT_EQ(offline.status().code(), Status::Code::kNotFound);
  EXPECT_NE(offline.status().message().find("hf://org/name: not in the cache"), std::string::npos);
  EXPECT_NE(offline.status().message().find("HF_HUB_OFFLINE"), std::string::npos);

  options.revision = "v2";
  EXPECT_FALSE(ResolveModel(tmp.path() + "/m", options).ok());
  auto conflict = ResolveModel("hf://org/name@v1", options);
  ASSERT_FALSE(conflict.ok());
  EXPECT_NE(conflict.status().message().find("'v1'"), std::string::npos);
}

}  // namespace
}  // namespace mixserve::model
