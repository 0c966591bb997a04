//! Shared by tests and benchmarks that drive the simulator with a system of their own.

/// Test systems are planned like `kv_register` (its scenarios, processes and workload)
/// but run processes of their own.
macro_rules! planned_like_kv_register {
    ($t:ty) => {
        impl faultline::plan::Spec for $t {
            const NAME: &'static str = "kv_register";
            type Section = faultline::systems::kv_register::KvRegisterSection;
            type Params = faultline::systems::kv_register::KvRegisterParams;
            type Op = faultline::systems::components::workload::kv::KvOp;
            type Bug = faultline::systems::kv_register::Bug;
            type Check = faultline::systems::kv_register::Check;
            type Workload = faultline::systems::kv_register::Workload;
            fn resolve(
                section: &Self::Section,
                swarm: bool,
                seed: u64,
                _: &faultline::scenario::Params,
            ) -> Self::Params {
                section.resolve(swarm, seed)
            }
            fn topology(
                params: &faultline::scenario::Params,
                _: &Self::Params,
                _: Self::Workload,
            ) -> Vec<faultline::plan::NodeSpec> {
                faultline::systems::kv_register::topology(params)
            }
            fn operation(_: Self::Workload, d: &mut faultline::plan::Draw<'_>) -> Self::Op {
                faultline::systems::components::workload::kv::draw(d)
            }
        }
    };
}
