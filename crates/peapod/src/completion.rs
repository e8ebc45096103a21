//! `peapod completion bash|zsh|fish`: clap's static completion for every
//! verb and flag, plus completion of pod names (and container names after
//! `-c`) asked from the API at completion time, like kubectl's.

use std::io::Write;

#[derive(clap::Args, Debug, Clone)]
pub struct CompletionArgs {
    /// bash, zsh or fish.
    #[arg(value_parser = ["bash", "zsh", "fish"])]
    pub shell: String,
}

/// Verbs whose next word is a pod name.
const POD_VERBS: &str = "logs exec attach describe delete port-forward wait label annotate";

const BASH_DYNAMIC: &str = r#"
# Pod and container names come from the API (like kubectl's completion).
__peapod_pods() {
    peapod get pods -o name 2>/dev/null | sed 's#^pod/##'
}
__peapod_containers() {
    peapod get pod "$1" -o 'jsonpath={.spec.initContainers[*].name} {.spec.containers[*].name}' 2>/dev/null
}
_peapod_dynamic() {
    local cur prev verb pod i
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    verb=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in -*) ;; *) verb="${COMP_WORDS[i]}"; break ;; esac
    done
    if [[ "$prev" == "-c" || "$prev" == "--container" ]]; then
        for ((i = COMP_CWORD - 1; i > 0; i--)); do
            case "${COMP_WORDS[i]}" in -*|"$verb"|pod|pods) ;; *) pod="${COMP_WORDS[i]}"; break ;; esac
        done
        COMPREPLY=($(compgen -W "$(__peapod_containers "$pod")" -- "$cur"))
        return 0
    fi
    case " __POD_VERBS__ get " in
        *" $verb "*)
            if [[ "$cur" != -* && ( "$prev" == "$verb" || "$prev" == "pod" || "$prev" == "pods" || "$prev" == "po" ) ]]; then
                if [[ "$verb" != "get" && "$verb" != "describe" && "$verb" != "delete" || "$prev" != "$verb" ]]; then
                    COMPREPLY=($(compgen -W "$(__peapod_pods)" -- "$cur"))
                    return 0
                fi
            fi
            ;;
    esac
    _peapod "$@"
}
complete -F _peapod_dynamic -o bashdefault -o default peapod
"#;

const FISH_DYNAMIC: &str = r#"
# Pod and container names come from the API (like kubectl's completion).
function __peapod_pods
    peapod get pods -o name 2>/dev/null | string replace 'pod/' ''
end
complete -c peapod -n '__fish_seen_subcommand_from __POD_VERBS__' -f -a '(__peapod_pods)'
complete -c peapod -n '__fish_seen_subcommand_from logs exec attach' -s c -l container -x -a '(peapod get pods -o jsonpath="{.items[*].spec.containers[*].name}" 2>/dev/null | string split " ")'
"#;

pub fn main(a: CompletionArgs, mut cmd: clap::Command) -> i32 {
    let mut out = Vec::new();
    match a.shell.as_str() {
        "bash" => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "peapod", &mut out);
            out.extend_from_slice(BASH_DYNAMIC.replace("__POD_VERBS__", POD_VERBS).as_bytes());
        }
        "zsh" => {
            // zsh runs the bash completion (with its dynamic pod names) through bashcompinit.
            out.extend_from_slice(b"#compdef peapod\nautoload -U +X bashcompinit && bashcompinit\n");
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "peapod", &mut out);
            out.extend_from_slice(BASH_DYNAMIC.replace("__POD_VERBS__", POD_VERBS).as_bytes());
        }
        _ => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "peapod", &mut out);
            out.extend_from_slice(FISH_DYNAMIC.replace("__POD_VERBS__", POD_VERBS).as_bytes());
        }
    }
    match std::io::stdout().write_all(&out) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
