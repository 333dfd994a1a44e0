// The one version string both binaries print; set by CMake from project(VERSION).
#pragma once

namespace mixserve {
const char* Version();
}
