// The texts of the compare view (compare.js), in Spanish and English; see web/i18n.js.
export default {
  es: { model: 'Modelo', p: 'P(perro)', label: 'Etiqueta', ms: 'Inferencia (ms)', cat: 'gato', dog: 'perro', neither: 'ni gato ni perro',
    loading: 'cargando…', failed: 'error: {0}', live: 'en vivo', waiting: 'Esperando un fotograma…',
    agree: '{0} de {1} modelos coinciden con {2}', all: 'Los {0} modelos coinciden', chance: 'al azar',
    chanceNote: 'Los modelos marcados «al azar» no superan el azar y no cuentan.' },
  en: { model: 'Model', p: 'P(dog)', label: 'Label', ms: 'Inference (ms)', cat: 'cat', dog: 'dog', neither: 'no cat or dog',
    loading: 'loading…', failed: 'error: {0}', live: 'live', waiting: 'Waiting for a frame…',
    agree: '{0} of {1} models agree with {2}', all: 'All {0} models agree', chance: 'at chance',
    chanceNote: 'Models marked "at chance" do not beat chance and are not counted.' },
};
