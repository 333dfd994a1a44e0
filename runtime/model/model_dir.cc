#include "runtime/model/model_dir.h"

namespace mixserve::model {}  // header-only today; keeps the library non-empty before its other files land
