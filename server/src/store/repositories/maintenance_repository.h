// Maintenance windows announced by staff, on top of the configured ones. One
// of the repositories a StoreTx gives access to (storage.h).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "renkei/service_calendar.h"

namespace renkei::server {

class MaintenanceRepository {
 public:
  virtual std::vector<MaintenanceWindow> list_maintenance() = 0;
  virtual std::int64_t add_maintenance(const MaintenanceWindow& w) = 0;
  virtual bool remove_maintenance(std::int64_t id) = 0;
  virtual std::vector<std::pair<std::int64_t, MaintenanceWindow>> list_maintenance_with_ids() = 0;

 protected:
  ~MaintenanceRepository() = default;
};

}  // namespace renkei::server
